import { Client, Connection } from '@temporalio/client';
import { temporalConnectionOptions, type LeadlineEnv } from '../activities/config';
import { loadKeyring } from '../activities/keys';
import { LeadPayloadCodec } from '../activities/payload-codec';
import type { Say } from './io';

export interface AdminTemporal {
  client: Client;
  close(): Promise<void>;
}

/**
 * TEMPORAL_ADDRESS when set, else the dev server `npm start` runs on TEMPORAL_DEV_PORT; it must be up already.
 * Payloads are decrypted with the key `npm start` uses (LEADLINE_PAYLOAD_KEY, or the data folder's).
 */
export async function openTemporal(cfg: LeadlineEnv, say: Say): Promise<AdminTemporal> {
  const address = cfg.TEMPORAL_ADDRESS ?? `127.0.0.1:${cfg.TEMPORAL_DEV_PORT}`;
  let connection: Connection | undefined;
  try {
    const options = cfg.TEMPORAL_ADDRESS === undefined ? { address } : temporalConnectionOptions(cfg, address);
    connection = await Connection.connect({ ...options, connectTimeout: '3 seconds' });
    const connected = connection;
    await connected.withDeadline(Date.now() + 5_000, () => connected.workflowService.getSystemInfo({}));
  } catch (error) {
    await connection?.close();
    throw new Error(
      `Temporal does not answer at ${address} (${(error as Error).message}): start Leadline with npm start first, or set TEMPORAL_ADDRESS`,
      { cause: error },
    );
  }
  const open = connection;
  try {
    const payloadCodec = new LeadPayloadCodec(loadKeyring(cfg).keyring);
    say(`Temporal        ${address}, namespace ${cfg.TEMPORAL_NAMESPACE}, current key ${payloadCodec.keyId}`);
    const client = new Client({
      connection: open,
      namespace: cfg.TEMPORAL_NAMESPACE,
      dataConverter: { payloadCodecs: [payloadCodec] },
    });
    return { client, close: () => open.close() };
  } catch (error) {
    await open.close();
    throw error;
  }
}
