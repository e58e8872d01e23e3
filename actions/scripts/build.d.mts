export interface Bundle {
  entry: string;
  out: string;
  committed: boolean;
  native?: boolean;
  compileCache?: boolean;
}
export declare const bundles: Bundle[];
export declare function bundleFiles(bundle: Bundle): string[];
export declare const leftOutPlugin: import("esbuild").Plugin;
