// Uses the <script> build: dist/realtime.min.js defines the global `Realtime`.
window.startEcho(window.Realtime.RealtimeClient, 'iife');
