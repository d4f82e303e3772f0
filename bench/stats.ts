// Small statistics for benchmark reports.
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** Jain's fairness index, (Σx)² / (n · Σx²): 1 when every share is equal, 1/n when one takes all. */
export function jainIndex(shares: number[]): number {
  const sum = shares.reduce((total, x) => total + x, 0);
  const squares = shares.reduce((total, x) => total + x * x, 0);
  return squares === 0 ? Number.NaN : (sum * sum) / (shares.length * squares);
}
