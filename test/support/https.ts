import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** A POST over https trusting `ca` only (the codec front's self-signed certificate), as a browser that accepted it. */
export function postOverTls(url: string, ca: Buffer, body: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', headers, ca }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
