/** The generated files (in actions/lib/src/contracts/) whose committed content differs from what schemas/ give now. */
export declare function staleContracts(): Promise<string[]>;
