import type { Rng } from '../random';
import type { Partition } from '../config';
import type { Dataset } from './dataset';

/**
 * Splitting a training set over peers. Shards are index lists into the dataset, sorted
 * ascending (memory order; the sampler shuffles anyway). Every sample goes to exactly one
 * peer and no shard is empty, so every peer can always draw a batch. Every peer derives the
 * same partition from the session seed, so nothing about it crosses the network.
 */

/** Fisher-Yates, in place. */
export function shuffleInPlace<E, A extends { length: number; [i: number]: E }>(a: A, rng: Rng): A {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]; a[i] = a[j]; a[j] = t;
  }
  return a;
}

function checkPeers(count: number, n: number): void {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`peer count must be a positive integer, got ${n}`);
  if (count < n) throw new RangeError(`cannot give ${n} peers a non-empty shard each from ${count} samples`);
}

/** Uniformly random split; shard sizes differ by at most one. */
export function partitionIid(count: number, n: number, rng: Rng): Uint32Array[] {
  checkPeers(count, n);
  const order = shuffleInPlace(Uint32Array.from({ length: count }, (_, i) => i), rng);
  const base = Math.floor(count / n), extra = count % n;
  const shards: Uint32Array[] = [];
  let at = 0;
  for (let p = 0; p < n; p++) {
    const size = base + (p < extra ? 1 : 0);
    shards.push(order.slice(at, at + size).sort());
    at += size;
  }
  return shards;
}

/**
 * Label-skewed non-IID split (Hsu, Qi & Brown 2019): for each class draw peer proportions
 * p ~ Dir(alpha) and cut that class's shuffled samples at the cumulative proportions. Small
 * alpha concentrates each class on few peers; large alpha tends to IID.
 * When a shard ends up empty (likely for small alpha and many peers), one sample moves to it
 * from the currently largest shard, which keeps the label skew nearly intact.
 */
export function partitionDirichlet(labels: ArrayLike<number>, numClasses: number, n: number, alpha: number, rng: Rng): Uint32Array[] {
  checkPeers(labels.length, n);
  if (!(alpha > 0 && Number.isFinite(alpha))) throw new RangeError(`Dirichlet alpha must be finite and > 0, got ${alpha}`);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!(c >= 0 && c < numClasses)) throw new RangeError(`label ${c} of sample ${i} outside 0..${numClasses - 1}`);
    byClass[c].push(i);
  }
  const shards: number[][] = Array.from({ length: n }, () => []);
  const p = new Float64Array(n);
  for (let c = 0; c < numClasses; c++) {
    const members = shuffleInPlace(byClass[c], rng);
    let sum = 0;
    for (let k = 0; k < n; k++) sum += p[k] = rng.gamma(alpha);
    // For tiny alpha every Gamma draw can underflow to 0: that is the alpha -> 0 limit, one peer takes the class.
    if (!(sum > 0) || !Number.isFinite(sum)) { p.fill(0); p[rng.int(n)] = 1; sum = 1; }
    let cum = 0, start = 0;
    for (let k = 0; k < n; k++) {
      cum += p[k];
      const end = k === n - 1 ? members.length : Math.min(members.length, Math.round((cum / sum) * members.length));
      for (let j = start; j < end; j++) shards[k].push(members[j]);
      start = Math.max(start, end);
    }
  }
  for (let k = 0; k < n; k++) {
    if (shards[k].length > 0) continue;
    let donor = 0;
    for (let q = 1; q < n; q++) if (shards[q].length > shards[donor].length) donor = q;
    const from = shards[donor];
    const j = rng.int(from.length);
    shards[k].push(from[j]);
    from[j] = from[from.length - 1];
    from.pop();
  }
  return shards.map((s) => Uint32Array.from(s).sort());
}

/** The session's partition kind applied to a training set. */
export function partitionFor(partition: Partition, data: Pick<Dataset, 'labels' | 'count' | 'numClasses'>, n: number, rng: Rng): Uint32Array[] {
  switch (partition.kind) {
    case 'iid':
      return partitionIid(data.count, n, rng);
    case 'dirichlet':
      return partitionDirichlet(data.labels, data.numClasses, n, partition.alpha, rng);
  }
}

/**
 * Mean total-variation distance between each shard's label distribution and the whole set's:
 * 0 for a perfectly stratified split, approaching 1 - 1/numClasses when each shard holds one class.
 */
export function labelSkew(labels: ArrayLike<number>, numClasses: number, shards: readonly ArrayLike<number>[]): number {
  const global = new Float64Array(numClasses);
  for (let i = 0; i < labels.length; i++) global[labels[i]]++;
  for (let c = 0; c < numClasses; c++) global[c] /= labels.length;
  let total = 0;
  const h = new Float64Array(numClasses);
  for (const shard of shards) {
    h.fill(0);
    for (let j = 0; j < shard.length; j++) h[labels[shard[j]]]++;
    let tv = 0;
    for (let c = 0; c < numClasses; c++) tv += Math.abs(h[c] / shard.length - global[c]);
    total += tv / 2;
  }
  return total / shards.length;
}
