import { RegistryError, patternMatches } from '../oci/index.js';
import type { RepositoryAction } from '../auth/index.js';
import type { WriteRule } from '../registry/context.js';
import type { ConfigDocument, Mode } from '../client/gateway-protocol.js';

/** What a ReadOnly connected registry (or a write outside a ReadWrite one's sync scope) answers to writes. */
export const WRITE_NOT_ALLOWED = 'This operation is not allowed on this registry.';

/**
 * What a connected node allows locally, from its latest config: its mode (ReadOnly refuses
 * every write), the repositories in its sync scope (a ReadWrite node takes writes only there,
 * since only those can be carried up), and the tokens that may sign in here (its client tokens
 * and its direct children's sync tokens; the other tokens it holds are only passed down).
 * Until the first config arrives it is ReadOnly with no tokens: secure by default.
 */
export class EdgePolicy implements WriteRule {
  private mode: Mode = 'ReadOnly';
  private repositories: string[] = [];
  private tokens = new Set<string>();

  update(doc: ConfigDocument): void {
    this.mode = doc.self.mode;
    this.repositories = doc.repositories.map((r) => r.toLowerCase());
    const children = doc.descendants.filter((d) => d.parent === doc.self.name).map((d) => d.sync.tokenName);
    this.tokens = new Set([...doc.self.clientTokenIds.map(tokenName), ...children].map((n) => n.toLowerCase()));
  }

  get currentMode(): Mode {
    return this.mode;
  }

  /** May a client write (push, tag, delete) to this repository here? */
  allowsWrite(repository: string): boolean {
    return this.mode === 'ReadWrite' && this.inScope(repository);
  }

  /**
   * The /v2 write rule of a connected node (run after the caller's own permissions): DENIED with
   * the reference's message unless the node takes writes to `repository` now. The token service
   * still grants what a token allows, so a client's write gets this clear refusal rather than a
   * confusing 401.
   */
  checkWrite(repository: string, _action: RepositoryAction): void {
    if (!this.allowsWrite(repository)) throw new RegistryError('DENIED', WRITE_NOT_ALLOWED, { mode: this.mode, repository });
  }

  inScope(repository: string): boolean {
    const name = repository.toLowerCase();
    return this.repositories.some((pattern) => patternMatches(pattern, name));
  }

  tokenUsable(name: string): boolean {
    return this.tokens.has(name.toLowerCase());
  }
}

/** `tokens/<name>` or `<name>` → `<name>`. */
export function tokenName(id: string): string {
  return id.startsWith('tokens/') ? id.slice('tokens/'.length) : id;
}
