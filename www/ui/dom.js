// Small helpers every panel uses: `$` (element by id), `el` (a text-only
// element builder) and the formatters for hashes, hash rates, durations,
// times and relays. Nothing here ever parses HTML: posts are hostile input,
// so every user-visible string goes in as text.

/** The element with id `id`. */
export const $ = (id) => document.getElementById(id);

/**
 * Text-only element builder: `attrs` are attributes (`class` sets the class,
 * `text` the text content); children are nodes or strings (set as text).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** A hash shortened to its first 10 and last 6 hex digits ('–' when empty). */
export function short(hash) {
  return hash ? `${hash.slice(0, 10)}…${hash.slice(-6)}` : '–';
}

/** A relay `{name, url}` as `name (url)`, or its url when it has no name. */
export function relayText({ name, url }) {
  return name === null ? url : `${name} (${url})`;
}

/** Hashes per second as `H/s`, `kH/s` or `MH/s`. */
export function formatRate(hashesPerSecond) {
  if (hashesPerSecond >= 1e6) return `${(hashesPerSecond / 1e6).toFixed(2)} MH/s`;
  if (hashesPerSecond >= 1e3) return `${(hashesPerSecond / 1e3).toFixed(1)} kH/s`;
  return `${Math.round(hashesPerSecond)} H/s`;
}

/** Seconds in the unit that reads best: ms, s, min, h or days ('–' when not finite). */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

/** A Unix time in milliseconds as a local time of day. */
export function formatTime(ms) {
  return new Date(ms).toLocaleTimeString();
}
