<?php
declare(strict_types=1);

namespace Realtime\Apps;

use Realtime\Application;
use Realtime\Frames;
use Realtime\RealtimeError;
use Realtime\Server;
use Realtime\Session;

/**
 * The demo chat room of demo/chat.html, as demo/chat-server.mjs runs it on the Node server: a
 * session joins with {type:'hello', nick}; its chat messages go to everyone, or with `to` (a
 * user id) to that person and the sender; everyone sees who is online. Presence follows the
 * session, not the connection: a dropped connection makes a user "away" until the session
 * resumes (on any transport, through any process) or expires.
 *
 * State lives in tables of the shared database, written in the transaction of each event.
 * Users are known to each other by a random id of their own, not by their session id.
 */
final class ChatApp implements Application
{
    private const HISTORY = 30;
    private const MAX_TEXT = 500;
    private const MAX_NICK = 24;

    private Server $rt;

    public function start(Server $rt): void
    {
        $this->rt = $rt;
    }

    public function install(Server $rt): void
    {
        $rt->db()->exec(<<<'SQL'
            CREATE TABLE IF NOT EXISTS chat_users (sid TEXT PRIMARY KEY, uid TEXT NOT NULL UNIQUE, nick TEXT NOT NULL, online INTEGER NOT NULL, joined INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS chat_history (n INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS chat_outages (cid TEXT PRIMARY KEY, until INTEGER NOT NULL);
            SQL);
    }

    /**
     * The demo's simulated outage (the page's "Simulate a 5 s network outage"): until it is
     * over, every request of that page (its `cid` in the URL) is refused with 503, as a dead
     * network would refuse it. Set as the server's `gate`.
     */
    public static function gate(array $query, Server $rt): ?string
    {
        $cid = $query['cid'] ?? null;
        if (!is_string($cid) || $cid === '') {
            return null;
        }
        $until = $rt->store->value('SELECT until FROM chat_outages WHERE cid = ?', [$cid]);
        return $until !== null && $until > Frames::now() ? 'Simulated outage' : null;
    }

    public function onOpen(Session $session): void
    {
    }

    public function onMessage(Session $session, mixed $msg, int $seq): void
    {
        $type = is_object($msg) ? ($msg->type ?? null) : null;
        match ($type) {
            'hello' => $this->hello($session, $msg),
            'chat' => $this->chat($session, $msg),
            'drop' => $session->disconnect(),
            'outage' => $this->outage($session, $msg),
            default => null,
        };
    }

    public function onDisconnect(Session $session): void
    {
        $this->setOnline($session, false);
    }

    public function onResume(Session $session): void
    {
        $this->setOnline($session, true);
    }

    public function onClose(Session $session, int $code, string $reason): void
    {
        if ($this->user($session) !== null) {
            $this->rt->store->run('DELETE FROM chat_users WHERE sid = ?', [$session->id]);
            $this->presence();
        }
    }

    private function hello(Session $session, object $msg): void
    {
        $nick = $this->unique(self::clean($msg->nick ?? null, self::MAX_NICK) ?: 'anonymous', $session->id);
        $uid = $this->user($session)['uid'] ?? bin2hex(random_bytes(8));
        $this->rt->store->run('INSERT OR REPLACE INTO chat_users (sid, uid, nick, online, joined) VALUES (?, ?, ?, 1, ?)', [$session->id, $uid, $nick, Frames::now()]);
        $session->send(['type' => 'joined', 'id' => $uid, 'nick' => $nick]);
        $history = array_map(fn ($row) => json_decode($row['json']), $this->rt->store->rows('SELECT json FROM chat_history ORDER BY n'));
        $session->send(['type' => 'history', 'messages' => $history]);
        $this->presence();
    }

    private function chat(Session $session, object $msg): void
    {
        $from = $this->user($session);
        $text = self::clean($msg->text ?? null, self::MAX_TEXT);
        if ($from === null || $text === '') {
            return;
        }
        $to = $msg->to ?? null;
        $target = is_string($to) && $to !== '' ? $this->rt->store->row('SELECT * FROM chat_users WHERE uid = ?', [$to]) : null;
        $mid = substr(is_string($msg->mid ?? null) ? $msg->mid : '', 0, 40);
        if ($to !== null && $to !== '' && $target === null) {
            $session->send(['type' => 'notice', 'mid' => $mid, 'text' => 'That person has left; message not delivered.']);
            return;
        }
        $out = ['type' => 'chat', 'mid' => $mid, 'from' => ['id' => $from['uid'], 'nick' => $from['nick']]];
        if ($target !== null) {
            $out['to'] = ['id' => $target['uid'], 'nick' => $target['nick']];
        }
        $out += ['text' => $text, 'at' => Frames::now()];
        if ($target !== null) {
            $this->sendTo(array_unique([$target['sid'], $session->id]), $out);
            return;
        }
        $this->sendTo(array_column($this->rt->store->rows('SELECT sid FROM chat_users'), 'sid'), $out);
        $this->rt->store->run('INSERT INTO chat_history (json) VALUES (?)', [Frames::payload($out)]);
        $this->rt->store->run('DELETE FROM chat_history WHERE n <= (SELECT MAX(n) FROM chat_history) - ?', [self::HISTORY]);
    }

    private function outage(Session $session, object $msg): void
    {
        $cid = $msg->cid ?? null;
        if (!is_string($cid) || $cid === '' || strlen($cid) > 64) {
            return;
        }
        $seconds = is_int($msg->seconds ?? null) ? min(max($msg->seconds, 1), 60) : 5;
        $this->rt->store->run('DELETE FROM chat_outages WHERE until < ?', [Frames::now()]);
        $this->rt->store->run('INSERT OR REPLACE INTO chat_outages (cid, until) VALUES (?, ?)', [$cid, Frames::now() + $seconds * 1000]);
        $session->disconnect();
    }

    private function setOnline(Session $session, bool $online): void
    {
        $user = $this->user($session);
        if ($user === null || (bool) $user['online'] === $online) {
            return;
        }
        $this->rt->store->run('UPDATE chat_users SET online = ? WHERE sid = ?', [(int) $online, $session->id]);
        $this->presence();
    }

    /** Everyone's list of who is here, sent to everyone who joined. */
    private function presence(): void
    {
        $users = $this->rt->store->rows('SELECT sid, uid, nick, online FROM chat_users ORDER BY joined');
        $list = array_map(fn ($u) => ['id' => $u['uid'], 'nick' => $u['nick'], 'online' => (bool) $u['online']], $users);
        $this->sendTo(array_column($users, 'sid'), ['type' => 'presence', 'users' => $list]);
    }

    /** @param list<string> $sids */
    private function sendTo(array $sids, array $data): void
    {
        foreach ($sids as $sid) {
            try {
                $this->rt->session($sid)->send($data);
            } catch (RealtimeError $e) {
                error_log('chat: not sent to a session: ' . $e->getMessage());
            }
        }
    }

    /** @return array<string, mixed>|null */
    private function user(Session $session): ?array
    {
        return $this->rt->store->row('SELECT * FROM chat_users WHERE sid = ?', [$session->id]);
    }

    private function unique(string $nick, string $sid): string
    {
        $taken = array_column($this->rt->store->rows('SELECT nick FROM chat_users WHERE sid != ?', [$sid]), 'nick');
        $candidate = $nick;
        for ($n = 2; in_array($candidate, $taken, true); $n++) {
            $candidate = "$nick ($n)";
        }
        return $candidate;
    }

    /** A trimmed single-line string of at most $max characters, or '' for anything else. */
    private static function clean(mixed $value, int $max): string
    {
        if (!is_string($value)) {
            return '';
        }
        $line = trim((string) preg_replace('/[\x00-\x1f\x7f]/u', ' ', $value));
        // The first $max characters (not bytes); without mbstring, which Debian's php-cli lacks.
        return preg_match('/^.{0,' . $max . '}/us', $line, $m) === 1 ? $m[0] : '';
    }
}
