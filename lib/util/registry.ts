/**
 * A registry of named definitions (explanation methods, metrics, datasets): names are lower-case letters, digits and
 * '-'; registering a taken name needs { replace: true }; a lookup of an unknown name is an error that lists the
 * registered ones and names the register function. Each registry checks its own definitions before `add`.
 */
export class NamedRegistry<T> {
  private readonly items = new Map<string, T>();

  /** `kind`: "method"; `register`: "registerMethod" (both appear in the errors). */
  constructor(
    private readonly kind: string,
    private readonly register: string,
  ) {}

  /** Check `name` before the caller's own checks (it must be valid and free unless `replace`). */
  checkName(name: string, replace = false): void {
    if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`${this.register}: name "${name}" must be lower-case letters, digits and '-', starting with a letter`);
    if (this.items.has(name) && !replace) throw new Error(`${this.register}: a ${this.kind} "${name}" is already registered (pass { replace: true } to replace it)`);
  }

  add(name: string, item: T): void {
    this.items.set(name, item);
  }

  /** Registered names, in registration order (built-in ones first). */
  names(): string[] {
    return [...this.items.keys()];
  }

  values(): T[] {
    return [...this.items.values()];
  }

  /** The definition, or undefined. */
  find(name: string): T | undefined {
    return this.items.get(name);
  }

  /** The definition, or an error naming the registered ones. */
  get(name: string): T {
    const item = this.items.get(name);
    if (item === undefined) throw new Error(`unknown ${this.kind} "${name}"; use one of ${this.names().join(', ')} (or ${this.register} a new one)`);
    return item;
  }
}
