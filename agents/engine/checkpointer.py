"""LangGraph checkpointers that write a step's spans in the step's own transaction.

Before LangGraph saves a checkpoint (or a task's pending writes), the saver calls the run's
`StepHook` on the same connection, inside the same transaction: the hook renews the run's
lease (and refuses the write if the lease is gone) and inserts the step's spans. So the trace
is exactly as durable as the state, with no extra commit per event.

Postgres: a psycopg_pool pool (autocommit, opened lazily in each process, so after a fork).
SQLite (embedded): the same file as Django, WAL, `check_same_thread=False`; each step's
transaction is BEGIN IMMEDIATE, so it waits for the write lock instead of failing on it.

Encryption (on by default, ``STEWARD_CHECKPOINT_ENCRYPTION_KEY``): LangGraph's EncryptedSerializer
with AES-GCM (console/kernel/sealing.py) encrypts every serialized value, checkpoints and pending writes,
in both savers, because a checkpoint holds the agent's state as it is, secrets included. The key
is the setting's, or with none set one derived from SECRET_KEY (its fallbacks decrypt too);
``off`` stores checkpoints in plain text. The Postgres saver would still keep
`str`/`int`/`float`/`bool`/`None` channel values inline, in plain text, in the checkpoint's JSON
column; encrypted, they go to the (encrypted) blobs table instead. Checkpoints written in plain
text (before encryption, or with it off) stay readable; encrypted ones need their key, so
switching it off, or changing SECRET_KEY without keeping the old one in SECRET_KEY_FALLBACKS,
makes runs that have them fail with a clear error until the key is back.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any, Protocol

import psycopg
from django.conf import settings
from django.db import connections
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import RESUME, _DeltaSnapshot
from langgraph.checkpoint.sqlite import SqliteSaver
from psycopg import Connection
from psycopg.conninfo import make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from console.kernel.sealing import CHECKPOINTS_KEY_PURPOSE, Keyring, SealError, keyring_from, secret_keys

__all__ = [
    "ENCRYPTION_OFF",
    "CheckpointEncrypted",
    "StepHook",
    "checkpoint_rows",
    "checkpoint_serde",
    "checkpointer",
    "close_pool",
    "connection_pool",
    "postgres_dsn",
    "prepare_threshold",
    "setup_checkpointer",
    "vendor",
]


class StepHook(Protocol):
    """What the saver calls around each write. `before_commit` issues statements on `cursor`
    (in Postgres pipeline mode: results are not read yet); `check` runs once they have been
    executed, before COMMIT, and raises to roll the whole step back."""

    def before_commit(
        self, cursor: Any, vendor: str, placeholder: str, checkpoint_id: str, up_to_step: int | None = None
    ) -> None: ...

    def check(self, cursor: Any) -> None: ...

    def after_commit(self) -> None: ...


class _NoHook:
    def before_commit(
        self, cursor: Any, vendor: str, placeholder: str, checkpoint_id: str, up_to_step: int | None = None
    ) -> None:
        return None

    def check(self, cursor: Any) -> None:
        return None

    def after_commit(self) -> None:
        return None


# --- encryption -----------------------------------------------------------------------------


class CheckpointEncrypted(RuntimeError):
    """A checkpoint is encrypted and this Steward has no key that opens it."""


class AesGcmCipher:
    """LangGraph's CipherProtocol over a Keyring: the first key encrypts, every key decrypts."""

    name = "aesgcm"

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        return self.name, self.keyring.seal(plaintext)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != self.name:
            raise CheckpointEncrypted(f"a checkpoint is encrypted with {ciphername!r}, which Steward does not use")
        try:
            return self.keyring.open(ciphertext)
        except SealError as exc:
            raise CheckpointEncrypted(
                "a checkpoint does not decrypt with the checkpoint key (STEWARD_CHECKPOINT_ENCRYPTION_KEY, or with "
                f"that empty SECRET_KEY and SECRET_KEY_FALLBACKS): {exc}"
            ) from None


class _PlainSerializer(JsonPlusSerializer):
    """LangGraph's serializer, with a clear error for what was written while encryption was on."""

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        if "+" in data[0]:
            raise CheckpointEncrypted(
                "this run's checkpoints are encrypted and STEWARD_CHECKPOINT_ENCRYPTION_KEY is off: set it back to "
                "the key they were written with (empty: the key derived from SECRET_KEY)"
            )
        return super().loads_typed(data)


# The setting's value that stores checkpoints in plain text.
ENCRYPTION_OFF = "off"


@lru_cache(maxsize=4)
def _serde(configured: str, secrets: tuple[str, ...], allowed_types: tuple[str, ...]) -> SerializerProtocol:
    if configured.strip().lower() == ENCRYPTION_OFF:
        return _PlainSerializer(**_allow_list(allowed_types))
    keyring = keyring_from(configured, "STEWARD_CHECKPOINT_ENCRYPTION_KEY", secrets, CHECKPOINTS_KEY_PURPOSE)
    return EncryptedSerializer(AesGcmCipher(keyring), JsonPlusSerializer(**_allow_list(allowed_types)))


def _allow_list(allowed_types: tuple[str, ...]) -> dict[str, Any]:
    """LangGraph's msgpack allow-list from "module.Name" entries; none keeps LangGraph's default
    (every type restored, an unregistered one with a warning)."""
    if not allowed_types:
        return {}
    return {"allowed_msgpack_modules": [tuple(name.rsplit(".", 1)) for name in allowed_types]}


def checkpoint_serde() -> SerializerProtocol:
    """The savers' serializer: encrypting unless STEWARD_CHECKPOINT_ENCRYPTION_KEY is "off"; the
    types it restores besides LangGraph's own are STEWARD_CHECKPOINT_ALLOWED_TYPES."""
    return _serde(
        getattr(settings, "STEWARD_CHECKPOINT_ENCRYPTION_KEY", "") or "",
        secret_keys(),
        tuple(getattr(settings, "STEWARD_CHECKPOINT_ALLOWED_TYPES", ()) or ()),
    )


def _encrypting(serde: SerializerProtocol) -> bool:
    return isinstance(serde, EncryptedSerializer)


# --- savers ---------------------------------------------------------------------------------


class _HookedWrites:
    """put and put_writes of the SQLite saver: the write inside the saver's `_step_transaction`,
    which runs the run's StepHook on the same connection and transaction. (The Postgres saver
    queues its writes on its step's cursor instead: StewardPostgresSaver.)"""

    # The saver's own: the lock, the transaction and the hook around one write; and how it
    # writes a checkpoint.
    _step_transaction: Callable[[str], AbstractContextManager[None]]
    _save_checkpoint: Callable[[RunnableConfig, Checkpoint, CheckpointMetadata, ChannelVersions], RunnableConfig]

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        with self._step_transaction(checkpoint["id"]):
            return self._save_checkpoint(config, checkpoint, metadata, new_versions)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        with self._step_transaction(config["configurable"].get("checkpoint_id", "")):
            super().put_writes(config, writes, task_id, task_path)  # type: ignore[misc]


def checkpoint_rows(
    saver: PostgresSaver | Any,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
    encrypting: bool = True,
) -> tuple[list[Any], tuple[Any, ...], RunnableConfig]:
    """What a Postgres saver (sync or async) writes for a checkpoint: the blob rows, the
    checkpoint row and the config naming it. Not encrypting, as LangGraph's put: primitive
    channel values inline in the checkpoint's JSON, the others in blobs. Encrypting, no channel
    value stays inline (in plain text): primitive values go to the encrypted blobs too, written at
    their current version even when unchanged (the blob may not exist yet: a thread begun before
    encryption was on kept them inline), which costs nothing when it does."""
    configurable = config["configurable"]
    thread_id, checkpoint_ns = configurable["thread_id"], configurable["checkpoint_ns"]
    values = checkpoint["channel_values"]
    copy = checkpoint.copy()
    copy["channel_values"] = {}
    in_blobs: set[str] = set()
    # Encrypting: the primitive values that go to the blobs at their current version.
    current: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, _DeltaSnapshot):
            copy["channel_values"][key] = True  # LangGraph's marker: the snapshot is a blob
            in_blobs.add(key)
        elif value is None or isinstance(value, (str, int, float, bool)):
            version = checkpoint["channel_versions"].get(key) if encrypting else None
            if version is None:
                copy["channel_values"][key] = value
            else:
                in_blobs.add(key)
                current[key] = version
        else:
            in_blobs.add(key)
    blob_versions = {k: v for k, v in new_versions.items() if k in in_blobs}
    for key, version in current.items():
        blob_versions.setdefault(key, version)
    blobs = saver._dump_blobs(thread_id, checkpoint_ns, values, blob_versions) if blob_versions else []
    row = (
        thread_id,
        checkpoint_ns,
        checkpoint["id"],
        configurable.get("checkpoint_id"),
        Jsonb(copy),
        Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
    )
    next_config: RunnableConfig = {
        "configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint["id"]}
    }
    return blobs, row, next_config


# Writes LangGraph reads back to resume (an error, an interrupt, a scheduled task): they commit
# at once, never held back for the step's checkpoint. A resume value is among them when it
# stands alone (LangGraph's first writes of a resumed step), but not in the writes of a task
# that finished with it (a resumed node's output and the answers it consumed, one put_writes):
# those are held like any finished task's, and a crash before the step commits asks the
# approvals again for the same answers (agents/engine/runtime.py `_next_input`).
_COMMIT_AT_ONCE = frozenset(WRITES_IDX_MAP)


class StewardPostgresSaver(PostgresSaver):
    """One transaction per step where LangGraph makes two.

    Stock LangGraph commits a task's writes as the task ends (`put_writes`), then the step's
    checkpoint (`put`). When a step has a single task, the writes are held back and commit with
    the checkpoint (and the step's spans, and the lease check) in one transaction: a crash before
    it re-runs that task, exactly as a crash while the task ran would. That includes a resumed
    node's output with the answers it consumed: re-run, it is resumed with the same answers,
    which the approvals keep. What a resume reads back commits at once all the same (errors,
    interrupts, a resume value written alone), and so does each task of a
    step of several tasks (a `Send` fan-out, parallel branches): a crash then never re-runs a
    task that finished. Held writes also go out with the next transaction of any kind, before
    any read, and when the execution ends (`flush_held`).
    """

    # Always one connection checked out of the pool by checkpointer(), never the pool itself:
    # a step's statements share its pipeline and transaction.
    conn: Connection[DictRow]

    def __init__(
        self, conn: Connection[DictRow], hook: StepHook, serde: SerializerProtocol | None = None, fresh_thread: str | None = None
    ) -> None:
        serde = serde or checkpoint_serde()
        super().__init__(conn, serde=serde)
        self.hook = hook
        # A thread nobody has written yet (a run's first claim on a thread of its own): until
        # this saver writes, reading any of its checkpoints finds nothing, without a query.
        self._fresh_thread = fresh_thread
        self.encrypting = _encrypting(serde)
        # put and put_writes come from LangGraph's executor threads: one transaction at a time.
        self._tx_lock = threading.Lock()
        self._held: list[tuple[RunnableConfig, Sequence[tuple[str, Any]], str, str]] = []
        # The step of each root checkpoint this saver wrote or read: a task's writes belong to the
        # step after their checkpoint's, and their transaction writes no later step's spans.
        self._step_of: dict[str, int] = {}

    def _may_hold(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str) -> bool:
        may_defer = getattr(self.hook, "may_defer", None)
        channels = {channel for channel, _ in writes}
        return (
            may_defer is not None
            and not config["configurable"].get("checkpoint_ns")
            and not channels & (_COMMIT_AT_ONCE - {RESUME})
            and channels != {RESUME}  # a resume value alone
            and bool(may_defer(task_id))
        )

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        if self._may_hold(config, writes, task_id):
            with self._tx_lock:
                self._held.append((config, list(writes), task_id, task_path))
            return
        checkpoint_id = config["configurable"].get("checkpoint_id", "")
        ran_from = self._step_of.get(checkpoint_id) if not config["configurable"].get("checkpoint_ns") else None
        with self._step_transaction(checkpoint_id, None if ran_from is None else ran_from + 1) as cur:
            self._queue_writes(cur, config, writes, task_id, task_path)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        # The spans this transaction writes name the checkpoint their tasks ran from (this one's
        # parent), as when they commit with the task's writes (traces/inspection/waterfall.py's
        # state diff reads that). Also when the task's writes are not held here: LangGraph sends
        # put without waiting for the step's put_writes, so on a busy machine the put can come
        # first and carry the step's spans (their task's writes then go with the next step).
        parent = str(config["configurable"].get("checkpoint_id") or "")
        step = metadata.get("step") if not config["configurable"].get("checkpoint_ns") else None
        if isinstance(step, int):
            self._step_of[checkpoint["id"]] = step
        with self._step_transaction(parent or checkpoint["id"], step if isinstance(step, int) else None) as cur:
            blobs, row, next_config = checkpoint_rows(self, config, checkpoint, metadata, new_versions, self.encrypting)
            if blobs:
                cur.executemany(self.UPSERT_CHECKPOINT_BLOBS_SQL, blobs)
            cur.execute(self.UPSERT_CHECKPOINTS_SQL, row)
            return next_config

    def _queue_writes(
        self, cur: Any, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> None:
        """LangGraph's put_writes, on the step's cursor (its own would sync the pipeline)."""
        query = (
            self.UPSERT_CHECKPOINT_WRITES_SQL
            if all(w[0] in WRITES_IDX_MAP for w in writes)
            else self.INSERT_CHECKPOINT_WRITES_SQL
        )
        configurable = config["configurable"]
        cur.executemany(
            query,
            self._dump_writes(
                configurable["thread_id"], configurable["checkpoint_ns"], configurable["checkpoint_id"], task_id, task_path, writes
            ),
        )

    def flush_held(self) -> None:
        """Commit held writes now (the step's checkpoint went first: they still belong in it)."""
        if self._held:
            with self._step_transaction(""):
                pass

    def thread_written(self) -> None:
        """Another saver (the async one of an async graph) wrote the fresh thread: read it."""
        self._fresh_thread = None

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        if self._fresh_thread is not None and config["configurable"].get("thread_id") == self._fresh_thread:
            return None
        self.flush_held()
        found = super().get_tuple(config)
        if found is not None and not found.config["configurable"].get("checkpoint_ns"):
            step = (found.metadata or {}).get("step")
            if isinstance(step, int):
                self._step_of[found.config["configurable"]["checkpoint_id"]] = step
        return found

    def list(self, config: RunnableConfig | None, **kwargs: Any) -> Iterator[CheckpointTuple]:
        self.flush_held()
        return super().list(config, **kwargs)

    @contextmanager
    def _step_transaction(self, checkpoint_id: str, up_to_step: int | None = None) -> Iterator[Any]:
        """One transaction in one pipeline: BEGIN, the hook's statements (lease, spans), held
        writes, what the caller queues on the cursor it gets and COMMIT go out with one sync, one
        round trip, when the hook's lease statement fails the transaction by itself if the lease
        is gone (`before_commit_failing`; its `refusal` names the error). Otherwise two: the
        hook checks the lease statement's result before COMMIT. LangGraph's own put and
        put_writes would open a nested pipeline each, and psycopg syncs at the end of every
        nested pipeline and around a transaction block: about eight round trips per step before."""
        failing = getattr(self.hook, "before_commit_failing", None)
        self._fresh_thread = None
        with self._tx_lock:
            committed = False
            try:
                with self.conn.pipeline() as pipeline, self.conn.cursor() as lease_cursor, self.conn.cursor() as cur:
                    # Not prepared: they are not worth a server-side statement each.
                    cur.execute("BEGIN", prepare=False)
                    if failing is not None:
                        failing(lease_cursor, checkpoint_id, up_to_step)
                    else:
                        self.hook.before_commit(lease_cursor, "postgresql", "%s", checkpoint_id, up_to_step)
                    held, self._held = self._held, []
                    for config, writes, task_id, task_path in held:
                        self._queue_writes(cur, config, writes, task_id, task_path)
                    yield cur
                    if failing is None:
                        pipeline.sync()
                        self.hook.check(lease_cursor)
                    cur.execute("COMMIT", prepare=False)
                # Leaving the pipeline synced: every result is read (the first error raises).
                committed = True
            except psycopg.Error as exc:
                refusal = getattr(self.hook, "refusal", None)
                refused = refusal(exc) if refusal is not None else None
                if refused is not None:
                    raise refused from None
                raise
            finally:
                if not committed:
                    self._roll_back()
        self.hook.after_commit()

    def _roll_back(self) -> None:
        # psycopg's rollback, out of the pipeline: it also forgets the statements prepared on the
        # connection, as its transaction blocks do (a ROLLBACK of our own would leave its
        # DEALLOCATE for later, after statements prepared since). The error that got us here
        # goes on: a failing rollback (the connection is gone) must not replace it, and the pool
        # discards a broken connection when it comes back.
        try:
            self.conn.rollback()
        except psycopg.Error:
            pass


class StewardSqliteSaver(_HookedWrites, SqliteSaver):
    # The SQLite saver serializes whole checkpoints: with encryption on, no value is left plain.
    def __init__(self, conn: sqlite3.Connection, hook: StepHook, serde: SerializerProtocol | None = None) -> None:
        super().__init__(conn, serde=serde or checkpoint_serde())
        self.hook = hook
        self._tx_lock = threading.Lock()
        # The tables come from a migration; SqliteSaver.setup() would COMMIT mid-transaction.
        self.is_setup = True

    # A checkpoint is written as LangGraph writes it (see the class comment).
    _save_checkpoint = SqliteSaver.put

    def _before(self, checkpoint_id: str) -> None:
        with self.lock:
            cur = self.conn.cursor()
            try:
                # The write lock first, waiting for it (busy_timeout) as long as another writer
                # holds it; super() commits. Left to sqlite3's implicit deferred BEGIN, the
                # transaction opened with the hook's lease SELECT (its result still unread) and
                # became a writer only at the span INSERT: if Django's connection had committed
                # in between, SQLite refused at once, "database is locked", without waiting,
                # and the run went to the dead-letter list.
                cur.execute("BEGIN IMMEDIATE")
                self.hook.before_commit(cur, "sqlite", "?", checkpoint_id)
                self.hook.check(cur)
            except BaseException:
                self.conn.rollback()
                raise
            finally:
                cur.close()

    @contextmanager
    def _step_transaction(self, checkpoint_id: str) -> Iterator[None]:
        with self._tx_lock:
            self._before(checkpoint_id)
            yield
            self.hook.after_commit()


def vendor() -> str:
    return connections["default"].vendor


def dsn_of(settings_dict: dict[str, Any]) -> str:
    s = settings_dict
    return _conninfo(s["NAME"], s.get("USER") or None, s.get("PASSWORD") or None, s.get("HOST") or None, str(s["PORT"]) if s.get("PORT") else None)


@lru_cache(maxsize=8)
def _conninfo(dbname: str, user: str | None, password: str | None, host: str | None, port: str | None) -> str:
    # Cached: every run's checkpointer asks for the pool by its DSN, and building one parses it.
    return make_conninfo(dbname=dbname, user=user, password=password, host=host, port=port)


def postgres_dsn() -> str:
    return dsn_of(connections["default"].settings_dict)


def prepare_threshold() -> int | None:
    """LangGraph's choice, prepare every statement at once (0), unless PgBouncer in transaction
    pooling sits in between: a statement prepared on one server connection is unknown on the next,
    so there psycopg must never prepare (None)."""
    return None if settings.PGBOUNCER else 0


_pool: ConnectionPool[Connection[DictRow]] | None = None
_pool_key: tuple[int, str] | None = None
_pool_lock = threading.Lock()


def _get_pool() -> ConnectionPool[Connection[DictRow]]:
    """The process's pool. Keyed by pid: a forked worker never uses its parent's sockets."""
    global _pool, _pool_key
    key = (os.getpid(), postgres_dsn())
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key and _pool_key[0] == os.getpid():
                _pool.close()
            _pool = ConnectionPool(
                key[1],
                min_size=1,
                # A worker process executes one run at a time (prefork): a few are plenty; the
                # connection budget is in docs/production.md.
                max_size=settings.STEWARD_CHECKPOINT_POOL_SIZE,
                kwargs={"autocommit": True, "prepare_threshold": prepare_threshold(), "row_factory": dict_row},
                # One round trip per checkout: after a Postgres restart a pooled connection is
                # dead, and handing it out failed the next run (seen in `manage.py chaos`).
                check=ConnectionPool.check_connection,
                open=True,
                name="steward-checkpoints",
            )
            _pool_key = key
        return _pool


def connection_pool() -> ConnectionPool[Connection[DictRow]]:
    """The process's pool, shared with LangGraph's store (agents/engine/store.py)."""
    return _get_pool()


def close_pool() -> None:
    global _pool, _pool_key
    with _pool_lock:
        if _pool is not None and _pool_key and _pool_key[0] == os.getpid():
            _pool.close()
        _pool, _pool_key = None, None


def _sqlite_connect() -> sqlite3.Connection:
    conn = sqlite3.connect(connections["default"].settings_dict["NAME"], check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@contextmanager
def checkpointer(hook: StepHook | None = None, fresh_thread: str | None = None) -> Iterator[BaseCheckpointSaver[Any]]:
    """A saver for one run execution, on a connection of its own for the duration.
    `fresh_thread`: a thread the caller knows has no checkpoint yet (Postgres reads none)."""
    hook = hook or _NoHook()
    if vendor() == "postgresql":
        with _get_pool().connection() as conn:
            saver = StewardPostgresSaver(conn, hook, fresh_thread=fresh_thread)
            yield saver
            # Only when the execution went well: after an error the lease may be gone, and what
            # is held is a finished step's history, not what a resume needs.
            saver.flush_held()
    else:
        sqlite_conn = _sqlite_connect()
        try:
            yield StewardSqliteSaver(sqlite_conn, hook)
        finally:
            sqlite_conn.close()


def setup_checkpointer(settings_dict: dict[str, Any], db_vendor: str) -> None:
    """Create LangGraph's checkpoint tables (from a migration)."""
    if db_vendor == "postgresql":

        dsn = dsn_of(settings_dict)
        # setup() runs CREATE INDEX CONCURRENTLY: it needs autocommit.
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=prepare_threshold(), row_factory=dict_row) as conn:
            PostgresSaver(conn).setup()
    else:
        sqlite_conn = sqlite3.connect(settings_dict["NAME"], check_same_thread=False, timeout=30)
        try:
            SqliteSaver(sqlite_conn).setup()
        finally:
            sqlite_conn.close()
