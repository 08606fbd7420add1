// A reader's choices remembered in this browser (language, projector mode, a class's teacher
// secret). Storage can be off (private windows, blocked cookies): reading then finds nothing and
// writing does nothing, so the choice lasts for this page only.

/** What was stored under `key`, or null (nothing stored, or no storage). */
export function readStoredChoice(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Remembers `value` under `key` where the browser lets us. */
export function storeChoice(key: string, value: string): void {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // no storage: this page only
  }
}

/** The `?name=` parameter of the page's address, or null. */
export function urlParam(name: string): string | null {
  return new URLSearchParams(window.location.search).get(name);
}
