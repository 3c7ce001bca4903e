// Durations on the analytics pages, the way people read them. The server's first paint uses
// analytics/pages.py format_duration, which reads the same.

/** 45 s, 1 m 05 s, 2 h 03 m; — when there is nothing to average (null). */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const total = Math.round(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  if (total < 60) return `${total} s`;
  if (total < 3600) return `${Math.floor(total / 60)} m ${pad(total % 60)} s`;
  return `${Math.floor(total / 3600)} h ${pad(Math.floor((total % 3600) / 60))} m`;
}
