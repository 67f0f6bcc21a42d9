<?php
declare(strict_types=1);

namespace Realtime;

/** Who is asking: the Origin allow-list (docs/protocol.md §12) and the client's address. */
final class Net
{
    /**
     * Whether $origin may use the server. 'self' in the list stands for the origin of the
     * request's own Host header ($host), as a same-origin page sends it.
     */
    public static function originAllowed(Config $config, string $origin, string $host, bool $secure): bool
    {
        if ($config->allowedOrigins === null) {
            return true;
        }
        foreach ($config->allowedOrigins as $allowed) {
            if ($allowed === $origin || ($allowed === 'self' && $host !== '' && $origin === ($secure ? 'https://' : 'http://') . $host)) {
                return true;
            }
        }
        return false;
    }

    /** The client's address: the peer's, or the last X-Forwarded-For entry when the peer is a trusted proxy. */
    public static function clientIp(Config $config, string $peer, ?string $forwardedFor): string
    {
        if ($forwardedFor !== null && in_array($peer, $config->trustedProxies, true)) {
            $hops = array_map('trim', explode(',', $forwardedFor));
            $last = end($hops);
            if (is_string($last) && filter_var($last, FILTER_VALIDATE_IP) !== false) {
                return $last;
            }
        }
        return $peer;
    }
}
