<?php
declare(strict_types=1);

namespace Realtime\Ws;

/**
 * RFC 6455 framing, written out (no extension is negotiated, so RSV bits must be 0): frames
 * read from a client, which must be masked, and frames written to it, which are not.
 */
final class Codec
{
    public const CONTINUATION = 0x0;
    public const TEXT = 0x1;
    public const BINARY = 0x2;
    public const CLOSE = 0x8;
    public const PING = 0x9;
    public const PONG = 0xA;

    /** The GUID of RFC 6455 §1.3 that the accept key is made with. */
    private const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

    public static function acceptKey(string $key): string
    {
        return base64_encode(sha1($key . self::GUID, true));
    }

    /**
     * Takes one whole frame off the front of $buffer: [fin, opcode, payload], or null while it
     * is incomplete. A payload longer than $maxPayload is refused from its header, before it is
     * buffered. Throws WsFailure for a frame RFC 6455 forbids.
     *
     * @return array{bool, int, string}|null
     */
    public static function take(string &$buffer, int $maxPayload): ?array
    {
        $have = strlen($buffer);
        if ($have < 2) {
            return null;
        }
        $b0 = ord($buffer[0]);
        $b1 = ord($buffer[1]);
        $fin = ($b0 & 0x80) !== 0;
        $opcode = $b0 & 0x0F;
        if (($b0 & 0x70) !== 0) {
            throw new WsFailure(1002, 'reserved bits set without an extension');
        }
        if (($b1 & 0x80) === 0) {
            throw new WsFailure(1002, 'client frames must be masked');
        }
        $control = $opcode >= 0x8;
        if (!in_array($opcode, [self::CONTINUATION, self::TEXT, self::BINARY, self::CLOSE, self::PING, self::PONG], true)) {
            throw new WsFailure(1002, 'unknown opcode');
        }
        $length = $b1 & 0x7F;
        $offset = 2;
        if ($control && ($length > 125 || !$fin)) {
            throw new WsFailure(1002, 'control frames are unfragmented and at most 125 bytes');
        }
        if ($length === 126) {
            if ($have < 4) {
                return null;
            }
            $length = unpack('n', $buffer, 2)[1];
            $offset = 4;
        } elseif ($length === 127) {
            if ($have < 10) {
                return null;
            }
            $length = unpack('J', $buffer, 2)[1];
            $offset = 10;
            if ($length < 0) {
                throw new WsFailure(1002, 'frame length out of range');
            }
        }
        if ($length > $maxPayload) {
            throw new WsFailure(4413, "message over max $maxPayload bytes");
        }
        if ($have < $offset + 4 + $length) {
            return null;
        }
        $mask = substr($buffer, $offset, 4);
        $payload = substr($buffer, $offset + 4, $length);
        $buffer = substr($buffer, $offset + 4 + $length);
        if ($length > 0) {
            $payload ^= str_repeat($mask, intdiv($length, 4) + 1);
            $payload = substr($payload, 0, $length);
        }
        return [$fin, $opcode, $payload];
    }

    /** One unmasked, unfragmented frame from the server. */
    public static function frame(int $opcode, string $payload): string
    {
        $length = strlen($payload);
        $head = chr(0x80 | $opcode);
        if ($length < 126) {
            $head .= chr($length);
        } elseif ($length < 65536) {
            $head .= chr(126) . pack('n', $length);
        } else {
            $head .= chr(127) . pack('J', $length);
        }
        return $head . $payload;
    }

    /** A close frame: the code, then the reason cut to 123 bytes without splitting a UTF-8 character. */
    public static function close(?int $code, string $reason = ''): string
    {
        if ($code === null) {
            return self::frame(self::CLOSE, '');
        }
        if (strlen($reason) > 123) {
            $reason = substr($reason, 0, 123);
            while ($reason !== '' && preg_match('//u', $reason) !== 1) {
                $reason = substr($reason, 0, -1);
            }
        }
        return self::frame(self::CLOSE, pack('n', $code) . $reason);
    }
}
