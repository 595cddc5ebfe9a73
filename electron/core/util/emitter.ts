// Minimal typed listener set: no Node EventEmitter semantics (no 'error' throw) for UI-facing events.
export class Listeners<T> {
  private set = new Set<(value: T) => void>();

  add(listener: (value: T) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  emit(value: T): void {
    for (const l of [...this.set]) {
      try {
        l(value);
      } catch {
        // A faulty subscriber (e.g. a closed transport) must not break the agent or other subscribers.
      }
    }
  }

  get size(): number {
    return this.set.size;
  }
}
