<?php
declare(strict_types=1);

namespace Realtime;

use PDO;
use PDOStatement;

/**
 * The SQLite file every request and the WebSocket daemon share. Each PHP process opens its own
 * connection; SQLite's locks make them take turns: WAL mode lets readers go on while one writer
 * holds the write lock, and every change goes through tx(), which takes that lock at BEGIN
 * (IMMEDIATE) so two writers never both read and then both try to upgrade (a deadlock SQLite
 * can only break with SQLITE_BUSY). busy_timeout makes a writer wait its turn instead of failing.
 */
final class Store
{
    /** Bumped when the schema changes; an older file is migrated by install(). */
    private const SCHEMA_VERSION = 1;

    public readonly PDO $pdo;
    private ?PDOStatement $dataVersion = null;
    private int $depth = 0;

    public function __construct(string $path, int $busyTimeoutMs = 10_000)
    {
        $this->pdo = new PDO('sqlite:' . $path, null, null, [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
            PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
            PDO::ATTR_STRINGIFY_FETCHES => false,
        ]);
        $this->pdo->exec("PRAGMA busy_timeout = $busyTimeoutMs");
        // NORMAL in WAL mode: a commit survives a crash of any process (not a power cut), without an fsync per commit.
        $this->pdo->exec('PRAGMA synchronous = NORMAL');
        $this->install();
    }

    /**
     * Runs $work in one write transaction and returns what it returns. A nested call joins the
     * outer transaction. An exception rolls everything back and is rethrown.
     *
     * @template T
     * @param callable(): T $work
     * @return T
     */
    public function tx(callable $work): mixed
    {
        if ($this->depth > 0) {
            return $work();
        }
        $this->pdo->exec('BEGIN IMMEDIATE');
        $this->depth = 1;
        try {
            $result = $work();
            $this->pdo->exec('COMMIT');
            return $result;
        } catch (\Throwable $e) {
            $this->pdo->exec('ROLLBACK');
            throw $e;
        } finally {
            $this->depth = 0;
        }
    }

    public function inTransaction(): bool
    {
        return $this->depth > 0;
    }

    /**
     * Runs $work inside a savepoint of the current transaction: an exception undoes what $work
     * wrote (and only that) and is rethrown. For application code, whose failure must not take
     * the protocol's own changes with it.
     */
    public function savepoint(callable $work): mixed
    {
        $this->pdo->exec('SAVEPOINT app');
        try {
            $result = $work();
            $this->pdo->exec('RELEASE app');
            return $result;
        } catch (\Throwable $e) {
            $this->pdo->exec('ROLLBACK TO app');
            $this->pdo->exec('RELEASE app');
            throw $e;
        }
    }

    /**
     * A number that changes whenever another connection (another request, the daemon) committed
     * a change. Reading it costs about a microsecond (SQLite reads it from the WAL index in shared
     * memory), so waiting requests check it every few milliseconds and look at their own rows
     * only when it moved.
     */
    public function dataVersion(): int
    {
        $this->dataVersion ??= $this->pdo->prepare('PRAGMA data_version');
        $this->dataVersion->execute();
        $version = (int) $this->dataVersion->fetchColumn();
        $this->dataVersion->closeCursor();
        return $version;
    }

    /** @param array<string|int, mixed> $params */
    public function run(string $sql, array $params = []): PDOStatement
    {
        $statement = $this->pdo->prepare($sql);
        $statement->execute($params);
        return $statement;
    }

    /** @return array<string, mixed>|null */
    public function row(string $sql, array $params = []): ?array
    {
        $row = $this->run($sql, $params)->fetch();
        return $row === false ? null : $row;
    }

    /** @return list<array<string, mixed>> */
    public function rows(string $sql, array $params = []): array
    {
        return $this->run($sql, $params)->fetchAll();
    }

    public function value(string $sql, array $params = []): mixed
    {
        $value = $this->run($sql, $params)->fetchColumn();
        return $value === false ? null : $value;
    }

    /** Creates the tables on first use; one process does it while the others wait for the lock. */
    private function install(): void
    {
        if ((int) $this->pdo->query('PRAGMA user_version')->fetchColumn() === self::SCHEMA_VERSION) {
            return;
        }
        // journal_mode cannot change inside a transaction; it is stored in the file once set.
        $this->pdo->exec('PRAGMA journal_mode = WAL');
        $this->tx(function (): void {
            if ((int) $this->pdo->query('PRAGMA user_version')->fetchColumn() === self::SCHEMA_VERSION) {
                return;
            }
            $this->pdo->exec(self::SCHEMA);
            $this->pdo->exec('PRAGMA user_version = ' . self::SCHEMA_VERSION);
        });
    }

    /** Times are milliseconds since the epoch. See docs/protocol.md §16 for what each value is. */
    private const SCHEMA = <<<'SQL'
        CREATE TABLE sessions (
          sid TEXT PRIMARY KEY,
          key TEXT NOT NULL,
          ip TEXT NOT NULL,
          conn TEXT,                          -- the connection attached, NULL while detached
          detached_at INTEGER,                -- while detached: expiry is detached_at + sessionTtl
          out_seq INTEGER NOT NULL DEFAULT 0, -- last server sequence number assigned
          sent_max INTEGER NOT NULL DEFAULT 0, -- highest one written to any connection (resume bound)
          peer_acked INTEGER NOT NULL DEFAULT 0,
          received INTEGER NOT NULL DEFAULT 0, -- highest client seq delivered to the application
          max_out INTEGER NOT NULL,           -- largest frame this client takes: min(max, hello.max)
          overrun INTEGER NOT NULL DEFAULT 0, -- replay dropped a written message: never resumable
          replay_bytes INTEGER NOT NULL DEFAULT 0,
          replay_count INTEGER NOT NULL DEFAULT 0,
          created_at INTEGER NOT NULL
        );
        CREATE INDEX sessions_ip ON sessions (ip);
        CREATE INDEX sessions_detached ON sessions (detached_at) WHERE conn IS NULL;

        CREATE TABLE replay (
          sid TEXT NOT NULL,
          seq INTEGER NOT NULL,
          json TEXT NOT NULL,
          PRIMARY KEY (sid, seq)
        ) WITHOUT ROWID;

        CREATE TABLE conns (
          id TEXT PRIMARY KEY,                -- the link id (HTTP) or a WebSocket's own id
          kind TEXT NOT NULL,                 -- 'websocket' | 'stream' | 'poll'
          state TEXT NOT NULL,                -- 'hello' (awaiting it) | 'open' | 'closing'
          sid TEXT,                           -- the session it carries (state 'open')
          ip TEXT NOT NULL,
          opened_at INTEGER NOT NULL,
          last_recv_at INTEGER NOT NULL,
          last_sent_at INTEGER NOT NULL,
          written INTEGER NOT NULL DEFAULT 0, -- highest seq put on this connection
          ack_sent INTEGER NOT NULL DEFAULT 0, -- last a sent on it
          owed TEXT,                          -- NULL | 'ack' | 'pong': the one control frame owed (§9)
          max_out INTEGER NOT NULL,
          holder TEXT,                        -- the process writing it (daemon, stream); NULL for long-poll
          alive_at INTEGER,                   -- the holder's last sign of life
          poll_id TEXT,                       -- long-poll: the poll held now
          poll_until INTEGER,                 -- long-poll: when it is answered at the latest
          last_poll_at INTEGER                -- long-poll: last poll seen or answered
        );
        CREATE INDEX conns_holder ON conns (holder);
        CREATE INDEX conns_ip ON conns (ip, state);

        -- What each connection has yet to write, in order. A row with frame NULL is the end
        -- marker: after it the transport closes (end_code set: WebSocket close code; NULL: dropped).
        CREATE TABLE outbox (
          n INTEGER PRIMARY KEY AUTOINCREMENT,
          conn TEXT NOT NULL,
          frame TEXT,
          last_seq INTEGER,                   -- msg frames: seq of the last message (SSE id:)
          end_code INTEGER,
          end_reason TEXT,
          bytes INTEGER NOT NULL,
          taken_by TEXT,                      -- long-poll: the poll writing it right now
          taken_at INTEGER
        );
        CREATE INDEX outbox_conn ON outbox (conn, n);

        CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO meta VALUES ('next_sweep', 0), ('replay_bytes', 0);
        SQL;
}
