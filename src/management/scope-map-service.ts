import { RegistryError } from '../oci/index.js';
import type { IdentityStore, ScopeMapInput, ScopeMapRecord } from '../metadata/index.js';
import type { EventBus } from '../core/events.js';
import type { WorkflowLock } from './workflow-lock.js';

export interface ScopeMapServiceDeps {
  identities: IdentityStore;
  events: EventBus;
  lock: WorkflowLock;
}

/**
 * The scope-map workflows of the management API (docs/management-api.md, "Scope maps"), each one
 * transaction. Every committed change is announced as `connected-registry-config-changed`: a
 * scope map may be one a registry's tokens use (a sync scope, a client's rights), and travels
 * down in config documents.
 */
export class ScopeMapService {
  constructor(private readonly deps: ScopeMapServiceDeps) {}

  /** System maps included, by name. */
  list(): Promise<ScopeMapRecord[]> {
    return this.deps.identities.listScopeMaps();
  }

  /** Throws NOT_FOUND `Scope map '<n>' not found.` */
  async get(name: string): Promise<ScopeMapRecord> {
    const found = await this.deps.identities.getScopeMap(name);
    if (!found) throw new RegistryError('NOT_FOUND', `Scope map '${name}' not found.`);
    return found;
  }

  /** Throws CONFLICT, TOOMANYREQUESTS. */
  async create(input: ScopeMapInput): Promise<ScopeMapRecord> {
    return this.write(() => this.deps.identities.createScopeMap(input));
  }

  /**
   * (actions ∪ add) − remove, and the description when given; an action in both lists is
   * "Update ambiguity". Throws NOT_FOUND, DENIED (a system map), TOOMANYREQUESTS.
   */
  async edit(name: string, change: { description?: string; add: readonly string[]; remove: readonly string[] }): Promise<ScopeMapRecord> {
    const both = change.add.filter((a) => change.remove.includes(a));
    if (both.length > 0) {
      throw new RegistryError('REQUEST_INVALID', `Update ambiguity. Duplicate actions were provided to add and remove.\n${both.join(', ')}`);
    }
    return this.write(async () => {
      const current = await this.get(name);
      const actions = [...current.actions, ...change.add.filter((a) => !current.actions.includes(a))].filter((a) => !change.remove.includes(a));
      return this.deps.identities.updateScopeMap(name, { actions, ...(change.description !== undefined ? { description: change.description } : {}) });
    });
  }

  /**
   * Replaces the actions (and the description when given), or creates the map when absent
   * (`created`). Throws DENIED (a system map), TOOMANYREQUESTS.
   */
  async put(name: string, change: { description?: string; actions: string[] }): Promise<{ scopeMap: ScopeMapRecord; created: boolean }> {
    let created = false;
    const scopeMap = await this.write(async () => {
      if (await this.deps.identities.getScopeMap(name)) {
        return this.deps.identities.updateScopeMap(name, { actions: change.actions, ...(change.description !== undefined ? { description: change.description } : {}) });
      }
      created = true;
      return this.deps.identities.createScopeMap({ name, description: change.description ?? '', actions: change.actions });
    });
    return { scopeMap, created };
  }

  /** Throws NOT_FOUND, DENIED (a system map), CONFLICT while a token uses it. */
  async delete(name: string): Promise<void> {
    await this.write(() => this.deps.identities.deleteScopeMap(name));
  }

  private async write<T>(work: () => Promise<T>): Promise<T> {
    const result = await this.deps.lock.run(work);
    this.deps.events.publish({ type: 'connected-registry-config-changed', name: null });
    return result;
  }
}
