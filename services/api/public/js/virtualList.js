// A virtual list: a scrolling viewport holds only the rows in view (and a few either side), reused as
// it scrolls, so 1,000 hosts or 10,000 processes cost the DOM some dozens of rows. Rows have one
// fixed height. Index i is always drawn by the pooled element i mod pool size, so a row keeps its
// element (and its focus) while it stays in the window.
import { h } from './dom.js';

export class VirtualList {
  /**
   * @param viewport the scrolling element (its height comes from CSS)
   * @param options.rowHeight px
   * @param options.createRow () => HTMLElement (the pooled row; absolutely positioned here)
   * @param options.renderRow (element, index) => void
   */
  constructor(viewport, { rowHeight, createRow, renderRow, overscan = 8 }) {
    this.viewport = viewport;
    this.rowHeight = rowHeight;
    this.createRow = createRow;
    this.renderRow = renderRow;
    this.overscan = overscan;
    this.count = 0;
    this.pool = [];
    this.first = 0;
    this.last = 0;
    this.scheduled = false;
    viewport.classList.add('vlist');
    this.spacer = h('div', { class: 'vlist-spacer', role: 'presentation' });
    viewport.append(this.spacer);
    this.onScroll = () => this.schedule();
    viewport.addEventListener('scroll', this.onScroll, { passive: true });
    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(viewport);
  }

  destroy() {
    this.viewport.removeEventListener('scroll', this.onScroll);
    this.resize.disconnect();
  }

  setCount(n) {
    this.count = n;
    this.spacer.style.height = `${n * this.rowHeight}px`;
  }

  /** Draw the visible rows again on the next frame. */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  /** Draw the visible rows now. */
  render() {
    const height = this.viewport.clientHeight || 600;
    const top = this.viewport.scrollTop;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - this.overscan);
    const last = Math.min(this.count, Math.ceil((top + height) / this.rowHeight) + this.overscan);
    const want = Math.ceil(height / this.rowHeight) + 2 * this.overscan + 1;
    while (this.pool.length < want) {
      const row = this.createRow();
      row.classList.add('vlist-row');
      row.style.height = `${this.rowHeight}px`;
      this.pool.push(row);
      this.spacer.append(row);
    }
    this.first = first;
    this.last = last;
    const used = new Set();
    for (let i = first; i < last; i++) {
      const k = i % this.pool.length;
      const row = this.pool[k];
      used.add(k);
      row.hidden = false;
      row.dataset.index = String(i);
      row.style.transform = `translateY(${i * this.rowHeight}px)`;
      this.renderRow(row, i);
    }
    for (let k = 0; k < this.pool.length; k++) {
      if (!used.has(k) && !this.pool[k].hidden) {
        this.pool[k].hidden = true;
        this.pool[k].dataset.index = '';
      }
    }
  }

  /** The element drawing row i, if it is in the window. */
  rowFor(i) {
    if (i < this.first || i >= this.last || this.pool.length === 0) return undefined;
    return this.pool[i % this.pool.length];
  }

  /** Scroll so row i is in view ('nearest': only as far as needed; 'center'). */
  scrollToIndex(i, align = 'nearest') {
    const top = i * this.rowHeight;
    const height = this.viewport.clientHeight;
    if (align === 'center') this.viewport.scrollTop = Math.max(0, top - height / 2 + this.rowHeight / 2);
    else if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + this.rowHeight > this.viewport.scrollTop + height) this.viewport.scrollTop = top + this.rowHeight - height;
    this.render();
  }
}
