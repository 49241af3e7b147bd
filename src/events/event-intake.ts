import { RegistryError, isDigest, isValidRepositoryName, isValidTag } from '../oci/index.js';
import { descendantsOf, type ConnectedRegistryRecord, type ConnectedRegistryStore, type NotificationEvent } from '../metadata/index.js';
import { MAX_EVENTS_PER_BATCH, type EventBatch, type EventBatchAck, type EventDoc } from '../client/gateway-protocol.js';
import type { NotificationLog } from './notification-log.js';

const MAX_ID = 64;
const MAX_FIELD = 512;
const MAX_MEDIA_TYPE = 255;
const EVENT_ID = /^[A-Za-z0-9._-]+$/;
const METHOD = /^[A-Z]{1,16}$/;

/**
 * The parent side of event relay (`POST /gateway/v1/<cr>/events`, client/gateway-protocol.ts):
 * takes a direct child's batch of notification events and stores them through the node's
 * NotificationLog — so the root queues their webhook deliveries, and a connected node relays
 * them further up. What a hostile child can do here is bounded: at most MAX_EVENTS_PER_BATCH
 * events per request, every field checked and bounded, and only events made at the child itself
 * or at a registry below it (the child cannot speak for its siblings or ancestors). Events that
 * fail a check are refused one by one; the rest are taken. Idempotent by event id.
 */
export class EventIntake {
  constructor(
    private readonly log: Pick<NotificationLog, 'record'>,
    private readonly connectedRegistries: Pick<ConnectedRegistryStore, 'listConnectedRegistries'>,
  ) {}

  /** Stores the events of `child`'s batch (parsed with parseEventBatch; the caller checked the child's activation). */
  async accept(child: ConnectedRegistryRecord, batch: EventBatch): Promise<EventBatchAck> {
    const below = new Set([child.name, ...descendantsOf(child.name, await this.connectedRegistries.listConnectedRegistries()).map((r) => r.name)]);
    const refused: EventBatchAck['refused'] = [];
    const taken: NotificationEvent[] = [];
    const ids = new Set<string>();
    for (const raw of batch.events) {
      try {
        const event = checkEvent(raw);
        if (!below.has(event.connectedRegistry)) {
          throw invalid(`Connected registry '${event.connectedRegistry.slice(0, 100)}' is not '${child.name}' nor below it.`);
        }
        // The same id twice in one batch: the first counts.
        if (ids.has(event.id)) continue;
        ids.add(event.id);
        taken.push({ ...event, timestamp: new Date(event.timestamp) });
      } catch (err) {
        const id = typeof (raw as { id?: unknown } | null)?.id === 'string' ? String((raw as { id: string }).id).slice(0, MAX_ID) : '';
        refused.push({ id, code: err instanceof RegistryError ? err.code : 'REQUEST_INVALID', message: err instanceof Error ? err.message : String(err) });
      }
    }
    const fresh = await this.log.record(taken, child.name);
    return { accepted: fresh.length, duplicates: batch.events.length - refused.length - fresh.length, refused };
  }
}

/** The envelope of POST events; throws REQUEST_INVALID (400) for a batch that cannot be read at all. Events are checked one by one by `accept`. */
export function parseEventBatch(body: unknown): EventBatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('the body must be a JSON object.');
  const { instanceId, events } = body as Record<string, unknown>;
  if (typeof instanceId !== 'string' || instanceId === '' || instanceId.length > MAX_FIELD) throw invalid(`instanceId must be a non-empty string of at most ${MAX_FIELD} characters.`);
  if (!Array.isArray(events)) throw invalid('events must be an array.');
  if (events.length > MAX_EVENTS_PER_BATCH) throw invalid(`at most ${MAX_EVENTS_PER_BATCH} events per request (got ${events.length}).`);
  return { instanceId, events: events as EventDoc[] };
}

/** One event of a batch, checked field by field (throws REQUEST_INVALID naming the field). */
function checkEvent(value: unknown): EventDoc {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('an event must be a JSON object.');
  const e = value as Record<string, unknown>;
  const id = e.id;
  if (typeof id !== 'string' || id.length > MAX_ID || !EVENT_ID.test(id)) throw invalid(`id must be 1 to ${MAX_ID} letters, digits, '.', '_' or '-'.`);
  const timestamp = e.timestamp;
  if (typeof timestamp !== 'string' || timestamp.length > 40 || Number.isNaN(Date.parse(timestamp))) throw invalid('timestamp must be an ISO 8601 time.');
  const action = e.action;
  if (action !== 'push' && action !== 'delete') throw invalid("action must be 'push' or 'delete'.");
  const repository = e.repository;
  if (typeof repository !== 'string' || !isValidRepositoryName(repository)) throw invalid('repository must be a repository name.');
  const tag = nullable(e.tag, 'tag', (v) => typeof v === 'string' && isValidTag(v));
  const digest = nullable(e.digest, 'digest', (v) => typeof v === 'string' && isDigest(v));
  const mediaType = nullable(e.mediaType, 'mediaType', (v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_MEDIA_TYPE);
  const size = nullable(e.size, 'size', (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
  const connectedRegistry = e.connectedRegistry;
  if (typeof connectedRegistry !== 'string' || connectedRegistry === '' || connectedRegistry.length > MAX_FIELD) throw invalid('connectedRegistry must be a connected registry name.');
  return {
    id, timestamp, action, repository, tag: tag as string | null, digest: digest as string | null, mediaType: mediaType as string | null,
    size: size as number | null, request: checkRequest(e.request), connectedRegistry,
  };
}

function checkRequest(value: unknown): EventDoc['request'] {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('request must be an object or null.');
  const r = value as Record<string, unknown>;
  const field = (key: string): string => {
    const v = r[key];
    if (typeof v !== 'string' || v.length > MAX_FIELD) throw invalid(`request.${key} must be a string of at most ${MAX_FIELD} characters.`);
    return v;
  };
  const method = field('method');
  if (!METHOD.test(method)) throw invalid('request.method must be an HTTP method.');
  return { id: field('id'), host: field('host'), method, useragent: field('useragent') };
}

function nullable(value: unknown, what: string, ok: (v: unknown) => boolean): unknown {
  if (value === null || value === undefined) return null;
  if (!ok(value)) throw invalid(`${what} is not valid.`);
  return value;
}

function invalid(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}
