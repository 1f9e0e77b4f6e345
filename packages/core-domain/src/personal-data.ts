/**
 * Personal data in the log is sealed by `@tradecore/vault` (`pii:v1:<subject>:...`) and can only be
 * opened through the vault, and not at all once the subject was forgotten (crypto-shredding).
 * Read models and reports that have no vault show a placeholder instead of the cipher text.
 */

/** Prefix of every sealed value. Usernames cannot contain ':', so a plain one never starts with it. */
export const SEALED_PREFIX = 'pii:';

/** What is shown where a sealed personal field cannot (or may not) be opened. */
export const PERSONAL_DATA_PLACEHOLDER = '[personal data]';

export function isSealedValue(value: string): boolean {
  return value.startsWith(SEALED_PREFIX);
}

/** A field as a reader without the vault may show it: plain values as they are, sealed ones as the placeholder. */
export function shownWithoutVault(value: string): string {
  return isSealedValue(value) ? PERSONAL_DATA_PLACEHOLDER : value;
}
