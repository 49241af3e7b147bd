/** A setting (flag, environment, stored CLI login) that cannot be used; the message says which and why. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
