// The one shape the SQL event store needs from a driver (Kysely's port-and-adapter idea): run a
// parameterised statement, run a function inside one transaction on one connection, close.
// pg and PGlite both implement it in their own folders.

export interface SqlQueryable {
  /**
   * `name`: a fixed statement worth preparing once per connection (PostgreSQL then skips parse and plan on
   * every later call; measured 4.6x less server CPU for the balance query). Drivers without it ignore it.
   */
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[], name?: string): Promise<Row[]>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * A statement that writes and commits on its own (an append, outside transaction()). Where its outcome
   * cannot be known (the connection lost while it ran, or a COMMIT whose wait for synchronous replication
   * was cancelled: committed on the primary only) it rejects with CommitOutcomeUnknownError. Absent (PGlite,
   * a statement inside a transaction, whose COMMIT is the transaction's): query.
   */
  queryCommitting?<Row = Record<string, unknown>>(text: string, params?: readonly unknown[], name?: string): Promise<Row[]>;
}

/** db.queryCommitting where the driver has it, else db.query. */
export const queryCommitting = <Row>(db: SqlQueryable, text: string, params?: readonly unknown[], name?: string): Promise<Row[]> =>
  db.queryCommitting ? db.queryCommitting<Row>(text, params, name) : db.query<Row>(text, params, name);

/** A connection held by session(). */
export interface SqlSession extends SqlQueryable {
  /**
   * Aborts when the connection is lost (the server restarted, the socket was cut): everything tied to the
   * session, such as a session-level advisory lock, is gone with it. Absent: the connection cannot be lost
   * on its own (PGlite, in process).
   */
  readonly lost?: AbortSignal;
}

export interface SqlClient extends SqlQueryable {
  readonly dialect: 'postgres' | 'pglite';
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /**
   * Runs fn on one connection held for its whole run, outside any transaction: for session-level advisory
   * locks that must outlive several transactions (a projection rebuild). PGlite has one connection anyway.
   */
  session<T>(fn: (connection: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A database error's SQLSTATE and detail, whichever driver raised it. */
export function sqlErrorOf(error: unknown): { code: string; detail?: string } | null {
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') {
    const { code, detail } = error as { code: string; detail?: string };
    return detail === undefined ? { code } : { code, detail };
  }
  return null;
}
