// The scope-map action grammar is oci/'s (shared with the CLI); auth's users get it here with the rest of what authorization needs.
export * from '../oci/actions.js';
export * from './identity.js';
export * from './passwords.js';
export * from './login-throttle.js';
export * from './admin-password.js';
export * from './jwt-signer.js';
export * from './authenticator.js';
export * from './access-guard.js';
export * from './challenge.js';
export * from './token-routes.js';
