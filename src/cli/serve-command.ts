import { resolveNodeConfig, type NodeFlags } from '../config/node-config.js';
import { startNode, closeOnSignals } from '../server/start-node.js';

/** `outpost serve`: start a node and keep it running until a signal. */
export async function serveCommand(flags: NodeFlags): Promise<void> {
  const config = resolveNodeConfig(flags, process.env, process.stdout.isTTY === true);
  const node = await startNode(config);
  closeOnSignals(node);
}
