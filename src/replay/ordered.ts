/**
 * Maps `fn` over `src` with at most `limit` calls in flight and yields the
 * results in input order, so parallel reads still give deterministic output.
 * `fn` must not reject (turn failures into values): a rejection would surface
 * only when its turn comes, after the ones before it.
 */
export async function* orderedMap<T, R>(
  src: Iterable<T> | AsyncIterable<T>,
  limit: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  const queue: Promise<R>[] = [];
  for await (const item of src) {
    const p = fn(item);
    // Keep an early rejection from being reported as unhandled before its turn.
    p.catch(() => undefined);
    queue.push(p);
    if (queue.length >= limit) yield await queue.shift()!;
  }
  while (queue.length > 0) yield await queue.shift()!;
}
