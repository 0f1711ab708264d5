// How much other work the event loop could do while a piece of work ran: work done in one block
// lets no other callback run until it ends; work done in slices lets them run between slices.

/** Runs `work`, counting the turns of the event loop (setImmediate callbacks) that ran meanwhile. */
export async function turnsDuring<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let running = true;
  const tick = () => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    return { value: await work(), turns };
  } finally {
    running = false;
  }
}
