/** What a connected node's agent is doing, as `SyncAgent.currentState` shows it. */
export type AgentState = 'Starting' | 'Online' | 'Syncing' | 'Offline' | 'OutsideWindow';

/** Where the session lifecycle is; only it moves the phase (SessionRunner). */
export type SessionPhase = 'Starting' | 'Connected' | 'Offline' | 'OutsideWindow';

/** Work that makes a connected agent Syncing while it runs. */
export type SyncWork = 'apply' | 'reconcile' | 'drain';

/**
 * The agent's state, derived from what runs now rather than written by the loops: the session
 * lifecycle sets the phase (its only writer) and the pull and push-back loops run their work
 * through `track`, which counts it in flight from before it starts until after it has ended.
 * Connected with work in flight is Syncing, without is Online. So a heartbeat sent while an
 * apply runs says Syncing, whatever another loop finishes meanwhile (docs/architecture.md,
 * "Connected node and sync agent").
 */
export class SyncActivity {
  private current: SessionPhase = 'Starting';
  private readonly counts: Record<SyncWork, number> = { apply: 0, reconcile: 0, drain: 0 };

  /** Moves the phase (the session lifecycle only). */
  enter(phase: SessionPhase): void {
    this.current = phase;
  }

  /** Runs `task` counted as `work` in flight; it stops counting when the task settles, however it ends. */
  async track<T>(work: SyncWork, task: () => Promise<T>): Promise<T> {
    this.counts[work] += 1;
    try {
      return await task();
    } finally {
      this.counts[work] -= 1;
    }
  }

  /** How many of `work` (of every kind without it) run now. */
  inFlight(work?: SyncWork): number {
    return work === undefined ? this.counts.apply + this.counts.reconcile + this.counts.drain : this.counts[work];
  }

  get state(): AgentState {
    return this.current === 'Connected' ? this.connectionState : this.current;
  }

  /** What a heartbeat reports: Syncing while any work is in flight, else Online. */
  get connectionState(): 'Online' | 'Syncing' {
    return this.inFlight() > 0 ? 'Syncing' : 'Online';
  }
}
