// Entry of rt-iife.html: the <script> build, dist/realtime.min.js, defines the global `Realtime`.
window.T.init(window.Realtime);
