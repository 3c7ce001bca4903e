// The Analytics area's charts (/desk/analytics), drawn with uPlot (a global, from vendor/) from
// the days the page carries. The tables under them hold the same figures for reading.

import { formatDuration } from "./analytics-format.js";

const HEIGHT = 240;
const DAY_SECONDS = 86_400;
// Steps of the axes: whole chats, and durations that read well.
const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];
const DURATION_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 28_800];

const carried = document.getElementById("analytics-days");
if (carried) draw(JSON.parse(carried.textContent));

function draw(days) {
  // Each day at midnight UTC, shown in UTC, so the axis gives the partner's dates whatever the
  // browser's own time zone.
  const stamps = days.map((day) => Date.parse(`${day.date}T00:00:00Z`) / 1000);
  const color = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const column = (name) => days.map((day) => day[name]);

  chart("chart-chats", [stamps, column("opened"), column("finished")], {
    series: [
      { label: "Opened", stroke: color("--accent") },
      // Dashed, so that days with as many finished as opened still show both lines.
      { label: "Finished", stroke: color("--ok"), dash: [6, 4] },
    ],
    steps: COUNT_STEPS,
    least: 5,
    format: String,
  });
  chart(
    "chart-times",
    [stamps, column("avg_response_seconds"), column("avg_handling_seconds")],
    {
      series: [
        { label: "Average response", stroke: color("--accent") },
        { label: "Average handling", stroke: color("--danger") },
      ],
      steps: DURATION_STEPS,
      least: 60,
      format: formatDuration,
    },
  );
}

/** A chart of days in the box `id`; its y axis starts at 0 and reaches at least `least`. */
function chart(id, data, { series, steps, least, format }) {
  const box = document.getElementById(id);
  const plot = new uPlot(
    {
      width: box.clientWidth,
      height: HEIGHT,
      tzDate: (stamp) => uPlot.tzDate(new Date(stamp * 1000), "Etc/UTC"),
      scales: {
        // Half a day either side, so a range of one day still has room to show it.
        x: { time: true, range: (u, min, max) => [min - DAY_SECONDS / 2, max + DAY_SECONDS / 2] },
        y: { range: (u, min, max) => [0, Math.max(max ?? 0, least) * 1.1] },
      },
      series: [
        { label: "Day", value: (u, stamp) => dayOf(stamp) },
        ...series.map((line) => ({
          ...line,
          width: 2,
          // Points always, so that a day between days with nothing to average still shows.
          points: { show: true },
          value: (u, value) => (value === null ? "—" : format(value)),
        })),
      ],
      axes: [
        {},
        { incrs: steps, size: 90, values: (u, splits) => splits.map((value) => format(value)) },
      ],
    },
    data,
    box,
  );
  new ResizeObserver(() => plot.setSize({ width: box.clientWidth, height: HEIGHT })).observe(box);
}

function dayOf(stamp) {
  return stamp === null ? "" : new Date(stamp * 1000).toISOString().slice(0, 10);
}
