// A host's processes as a tree: nodes by pid with their children, flattened depth first into the
// rows a virtual list draws, with the guide lines (│ ├─ └─) each row needs to be drawn as a tree.
// Building and flattening are linear in the processes: 10,000 take a few milliseconds.

export class ProcessTree {
  constructor(processes) {
    /** pid → process (ProcessView) */
    this.byPid = new Map();
    for (const p of processes) this.byPid.set(p.pid, p);
    /** pid → children pids present in this view, ascending */
    this.kids = new Map();
    this.roots = [];
    for (const p of processes) {
      if (p.ppid !== p.pid && this.byPid.has(p.ppid)) {
        let list = this.kids.get(p.ppid);
        if (!list) this.kids.set(p.ppid, (list = []));
        list.push(p.pid);
      } else this.roots.push(p.pid);
    }
    for (const list of this.kids.values()) list.sort((a, b) => a - b);
    this.roots.sort((a, b) => a - b);
    this.counts = { none: 0, own: 0, inherited: 0, 'over-limit': 0 };
    for (const p of processes) if (p.lockState in this.counts) this.counts[p.lockState]++;
  }

  get size() {
    return this.byPid.size;
  }

  children(pid) {
    return this.kids.get(pid) ?? [];
  }

  parent(pid) {
    const p = this.byPid.get(pid);
    return p && p.ppid !== pid && this.byPid.has(p.ppid) ? p.ppid : undefined;
  }

  /**
   * The rows, depth first, skipping the children of `collapsed` pids: parallel arrays (pid, depth,
   * guide text, position among siblings, sibling count), cheaper than 10,000 objects.
   */
  flatten(collapsed) {
    const n = this.byPid.size;
    const pids = new Int32Array(n);
    const depth = new Int32Array(n);
    const pos = new Int32Array(n);
    const setSize = new Int32Array(n);
    const guide = new Array(n);
    let count = 0;
    // stack of [pid, depth, guide prefix for its children, position, set size, own guide]
    const stack = [];
    for (let i = this.roots.length - 1; i >= 0; i--) stack.push([this.roots[i], 0, '', i + 1, this.roots.length, '']);
    while (stack.length > 0) {
      const [pid, d, prefix, posInSet, size, own] = stack.pop();
      pids[count] = pid;
      depth[count] = d;
      pos[count] = posInSet;
      setSize[count] = size;
      guide[count] = own;
      count++;
      if (collapsed.has(pid)) continue;
      const kids = this.kids.get(pid);
      if (!kids) continue;
      const last = kids.length - 1;
      for (let i = last; i >= 0; i--) {
        const isLast = i === last;
        stack.push([kids[i], d + 1, prefix + (isLast ? '   ' : '│  '), i + 1, kids.length, prefix + (isLast ? '└─ ' : '├─ ')]);
      }
    }
    const index = new Map();
    for (let i = 0; i < count; i++) index.set(pids[i], i);
    return { count, pids, depth, pos, setSize, guide, index };
  }

  /** The pids whose subtree holds no locked memory: what "collapse unlocked branches" folds away. */
  unlockedBranches() {
    const locked = new Map();
    const visit = (root) => {
      // post-order without recursion (trees can be deep)
      const order = [];
      const stack = [root];
      while (stack.length) {
        const pid = stack.pop();
        order.push(pid);
        for (const c of this.children(pid)) stack.push(c);
      }
      for (let i = order.length - 1; i >= 0; i--) {
        const pid = order[i];
        let any = this.byPid.get(pid).lockState !== 'none';
        for (const c of this.children(pid)) any ||= locked.get(c);
        locked.set(pid, any);
      }
    };
    for (const r of this.roots) visit(r);
    const out = new Set();
    for (const [pid, any] of locked) if (!any && this.children(pid).length > 0) out.add(pid);
    return out;
  }

  /** The pids from the roots down to `pid` (not included). */
  ancestors(pid) {
    const out = [];
    let p = this.parent(pid);
    const seen = new Set();
    while (p !== undefined && !seen.has(p)) {
      seen.add(p);
      out.push(p);
      p = this.parent(p);
    }
    return out.reverse();
  }
}
