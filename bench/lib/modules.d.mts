/** What {@link bundleModules} measures: min and min+gzip bytes, and each module's bytes in the output (dependencies as "name (dependency)"). */
export interface BundleModules {
  total: number;
  gzip: number;
  files: Array<{ file: string; bytes: number }>;
}
export function bundleModules(root: string, contents: string): Promise<BundleModules>;
