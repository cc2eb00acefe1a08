// Small SVG charts of a Ring of (time, value) samples: a sparkline for a table row, and an area chart
// with its scale for the fleet. Paths are rebuilt only when the ring changed (its version).
import { s } from './dom.js';
import { duration, num } from './format.js';

function pathOf(ring, width, height, pad = 1) {
  const n = ring.n;
  if (n === 0) return { line: '', area: '', min: 0, max: 0 };
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = ring.at(i)[1];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  // The scale starts at 0 (locked pages are counts): a flat line high up means "a lot, steady".
  const lo = Math.min(0, min);
  const hi = max > lo ? max : lo + 1;
  const [t0] = ring.at(0);
  const [t1] = ring.at(n - 1);
  const span = t1 > t0 ? t1 - t0 : 1;
  const x = (t) => (n === 1 ? width : pad + ((t - t0) / span) * (width - 2 * pad));
  const y = (v) => height - pad - ((v - lo) / (hi - lo)) * (height - 2 * pad);
  let line = '';
  for (let i = 0; i < n; i++) {
    const [t, v] = ring.at(i);
    line += `${i === 0 ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
  }
  if (n === 1) line = `M${pad},${y(ring.at(0)[1]).toFixed(1)}${line.replace('M', 'L')}`;
  const area = `${line}L${x(t1).toFixed(1)},${height - pad}L${n === 1 ? pad : x(t0).toFixed(1)},${height - pad}Z`;
  return { line, area, min, max };
}

/** A sparkline element to reuse in a row: `update(ring)` redraws it when the ring changed. */
export function sparkline(width = 120, height = 24) {
  const area = s('path', { class: 'spark-area' });
  const line = s('path', { class: 'spark-line' });
  const svg = s('svg', { class: 'sparkline', width, height, viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true', focusable: 'false' }, area, line);
  let drawn;
  let version = -1;
  return {
    el: svg,
    update(ring) {
      if (ring === drawn && ring.version === version) return;
      drawn = ring;
      version = ring.version;
      const p = pathOf(ring, width, height);
      line.setAttribute('d', p.line);
      area.setAttribute('d', p.area);
    },
  };
}

/**
 * The fleet's chart: an area over time with its highest value and its time span written out, and a
 * text equivalent in the figure's caption (the chart itself is hidden from screen readers).
 */
export function areaChart({ width = 720, height = 140, label }) {
  const area = s('path', { class: 'chart-area' });
  const line = s('path', { class: 'chart-line' });
  const top = s('text', { class: 'chart-label', x: 4, y: 12 });
  const bottom = s('text', { class: 'chart-label', x: 4, y: height - 4 });
  const span = s('text', { class: 'chart-label', x: width - 4, y: height - 4, 'text-anchor': 'end' });
  const grid = s('line', { class: 'chart-grid', x1: 0, x2: width, y1: 16, y2: 16 });
  const svg = s('svg', { class: 'area-chart', viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true', focusable: 'false' }, grid, area, line, top, bottom, span);
  let version = -1;
  return {
    el: svg,
    update(ring, describe) {
      if (ring.version === version) return;
      version = ring.version;
      const p = pathOf(ring, width, height - 18, 0);
      // leave room for the labels: the plot sits between y=16 and y=height-18
      line.setAttribute('d', p.line);
      area.setAttribute('d', p.area);
      line.setAttribute('transform', 'translate(0,16)');
      area.setAttribute('transform', 'translate(0,16)');
      top.textContent = ring.n ? `${label}: peak ${num(p.max)}` : `${label}: waiting for the first summary`;
      bottom.textContent = '0';
      span.textContent = ring.n > 1 ? `last ${duration(ring.at(ring.n - 1)[0] - ring.at(0)[0])}` : '';
      describe?.(p);
    },
  };
}
