/**
 * Import an ESM-only package (nifti-reader-js 0.8, h5wasm) from CommonJS code. TypeScript compiled to CommonJS
 * turns `await import(x)` into `require(x)`, which fails for them; an import() built at run time stays an import().
 */
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const dynamicImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

export async function importEsm<T>(specifier: string): Promise<T> {
  return (await dynamicImport(specifier)) as T;
}
