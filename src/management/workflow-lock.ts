/**
 * Runs the management workflows one at a time. A workflow reads what it needs, computes its
 * change set and applies it in one transaction (the stores' `applyChanges`); two workflows
 * interleaving between the read and the apply could each compute from a state the other is
 * about to change (two client-token updates of one registry, a token deleted while a registry
 * is created with it as its sync token). The stores' own checks inside the transaction keep the
 * invariants (unique names, parents, limits, scope maps in use); the lock keeps the rest
 * (lists computed from a read) from losing an update.
 */
export interface WorkflowLock {
  /** Runs `work` once every workflow that asked before it has finished; resolves or rejects as it does. */
  run<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * The lock of one process: a promise chain. A root of several processes on one PostgreSQL
 * database needs a lock they share instead (a `pg_advisory_lock` held for the workflow, or a
 * version column checked in the transaction and a retry), passed to the services in its place.
 */
export class InProcessLock implements WorkflowLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    // The next workflow waits for this one to settle, whatever its outcome.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
