/** A pause that does not keep the process alive on its own (polling and draining loops). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
