<?php
declare(strict_types=1);

namespace Realtime;

/**
 * Frames in and out (docs/protocol.md §2-§3). Incoming frames are checked field by field, each
 * value's type before its use, and never turned into a string: a hostile `t` may be an array
 * 4,000 levels deep. Outgoing frames are built from payload JSON kept as the application gave
 * it, never decoded and encoded again.
 */
final class Frames
{
    /** Largest integer of the protocol: 2^53 - 1. */
    public const MAX_INT = 9_007_199_254_740_991;
    /** Encoding of everything the server sends: UTF-8 as it is, no escaped slashes, 1.0 stays 1.0. */
    public const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR;
    /** How deep a frame may nest (the frame is level 1, `d` level 2, a payload from level 3). */
    private const DEPTH = 512;

    /**
     * Parses one frame's text. Throws ProtocolError 4400 saying what was wrong.
     */
    public static function decode(string $text): object
    {
        try {
            $frame = json_decode($text, false, self::DEPTH, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            $why = match ($e->getCode()) {
                JSON_ERROR_UTF8 => 'frame is not valid UTF-8',
                JSON_ERROR_DEPTH => 'frame nests deeper than ' . self::DEPTH . ' levels',
                default => 'frame is not valid JSON',
            };
            throw new ProtocolError(4400, $why);
        }
        if (!is_object($frame)) {
            throw new ProtocolError(4400, 'frame is not a JSON object');
        }
        if (!isset($frame->t) || !is_string($frame->t)) {
            throw new ProtocolError(4400, 'frame has no string t');
        }
        return $frame;
    }

    /** A short, safe rendering of a frame type for a close reason: only short plain strings are quoted. */
    public static function typeName(object $frame): string
    {
        $t = $frame->t;
        return strlen($t) <= 20 && preg_match('/^[A-Za-z0-9_-]*$/', $t) ? "\"$t\"" : 'an unknown type';
    }

    /** The integer field $name of $frame, or null when absent; anything but an integer 0..2^53-1 is a protocol error. */
    public static function int(object $frame, string $name, bool $required, int $min = 0): ?int
    {
        if (!property_exists($frame, $name)) {
            if ($required) {
                throw new ProtocolError(4400, "{$frame->t} frame without $name");
            }
            return null;
        }
        $value = $frame->$name;
        if (!is_int($value) || $value < $min || $value > self::MAX_INT) {
            throw new ProtocolError(4400, "{$frame->t}.$name must be an integer from $min to 2^53-1");
        }
        return $value;
    }

    /** The string field $name of $frame, or null when absent. */
    public static function string(object $frame, string $name, bool $required): ?string
    {
        if (!property_exists($frame, $name)) {
            if ($required) {
                throw new ProtocolError(4400, "{$frame->t} frame without $name");
            }
            return null;
        }
        if (!is_string($frame->$name)) {
            throw new ProtocolError(4400, "{$frame->t}.$name must be a string");
        }
        return $frame->$name;
    }

    /** JSON text of an application value, or RealtimeError 'not-json'. */
    public static function payload(mixed $data): string
    {
        try {
            return json_encode($data, self::JSON_FLAGS);
        } catch (\JsonException $e) {
            throw new RealtimeError('not-json', 'the message cannot be sent as JSON: ' . $e->getMessage(), $e);
        }
    }

    /** A control or handshake frame (never application data) as JSON. */
    public static function encode(array $frame): string
    {
        return json_encode($frame, self::JSON_FLAGS);
    }

    /** The frame carrying payloads $jsons (already JSON) from sequence number $seq, with ack $ack. */
    public static function msg(int $seq, array $jsons, int $ack): string
    {
        return '{"t":"msg","s":' . $seq . ',"d":[' . implode(',', $jsons) . '],"a":' . $ack . '}';
    }

    /** Bytes a msg frame takes beyond its payloads and their commas, for sequence numbers up to 2^53. */
    public static function msgOverhead(): int
    {
        return strlen(self::msg(self::MAX_INT, [], self::MAX_INT));
    }

    /** A new random identifier: 18 bytes (144 bits) from the system's CSPRNG, base64url, 24 characters. */
    public static function randomId(): string
    {
        return rtrim(strtr(base64_encode(random_bytes(18)), '+/', '-_'), '=');
    }

    /** Milliseconds since the epoch. */
    public static function now(): int
    {
        return (int) floor(microtime(true) * 1000);
    }
}
