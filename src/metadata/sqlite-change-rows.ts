import type { Change, ChangeKind } from './types.js';

/** A row of the change log (`changes`), as SQLite returns the columns every reader selects. */
export interface ChangeRow {
  seq: number;
  repository: string;
  kind: ChangeKind;
  tag: string | null;
  digest: string | null;
  media_type: string | null;
  at: number;
}

export function toChange(row: ChangeRow): Change {
  return {
    seq: row.seq,
    repository: row.repository,
    kind: row.kind,
    tag: row.tag,
    digest: row.digest,
    mediaType: row.media_type,
    at: new Date(row.at),
  };
}
