import type { LevelWithSilent } from 'pino';
import type { LogLevel } from '../config/node-config.js';

/** The reference's levels as pino names them. */
export const PINO_LEVELS: Record<LogLevel, LevelWithSilent> = {
  Debug: 'debug',
  Information: 'info',
  Warning: 'warn',
  Error: 'error',
  None: 'silent',
};

/**
 * The node's log level, changed while it runs (a connected node takes `logging.logLevel` from
 * each config its parent sends: docs/observability.md, "Log level").
 *
 * A pino child copies its parent's level when it is made and never follows it afterwards, and
 * fastify logs through a child of the logger it is given (`app.log`, made when the app is
 * built), of which each request's logger is a child in turn. So setting the level on the root
 * logger alone leaves the request loggers where they started: every long-lived logger is
 * registered here and set together. Per-request lines (fastify's "incoming request" and
 * "request completed") are written only at Debug: the app asks `requestLogging` for every
 * request, so they start and stop with the level.
 */
/** A logger whose level can be set (pino's, and fastify's view of it). */
export interface LeveledLogger {
  level: string;
}

export class LogLevels {
  private readonly loggers = new Set<LeveledLogger>();
  private level: LogLevel;

  constructor(initial: LogLevel) {
    this.level = initial;
  }

  /** Keeps `logger` at the node's level from now on (set at once). */
  register(logger: LeveledLogger): void {
    this.loggers.add(logger);
    logger.level = PINO_LEVELS[this.level];
  }

  set(level: LogLevel): void {
    if (level === this.level) return;
    this.level = level;
    for (const logger of this.loggers) logger.level = PINO_LEVELS[level];
  }

  get current(): LogLevel {
    return this.level;
  }

  /** Are per-request lines written now (Debug only: at Information a busy registry would log more than it serves)? */
  get requestLogging(): boolean {
    return this.level === 'Debug';
  }
}
