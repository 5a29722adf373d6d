// Who may open the status page and its JSON. With security.http.token set the page (HTML, script, styles: no data)
// is served to anyone and every JSON route needs the bearer token, which the page sends from what the operator
// typed in. Without a token nothing authenticates a request: page and JSON are served only to clients on this host
// (the client's address is loopback), as the flow editor is served only on loopback without flows.adminAuth.
import type { NextFunction, Request, Response } from 'express';
import { isLoopback } from '../limits/loopback.ts';

export type StatusAccess = 'token' | 'loopback';

export function accessMode(tokenSet: boolean): StatusAccess {
  return tokenSet ? 'token' : 'loopback';
}

/** Whether a request from `remoteAddress` may be answered (the token itself is checked by the HTTP part). */
export function mayServe(mode: StatusAccess, remoteAddress: string | undefined): boolean {
  if (mode === 'token') return true;
  return remoteAddress !== undefined && isLoopback(remoteAddress);
}

/** Express middleware refusing, with 403, what mayServe refuses; `onRefuse` sees every refused address. */
export function accessGuard(
  mode: StatusAccess,
  onRefuse: (address: string | undefined) => void,
): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    const address = req.socket.remoteAddress;
    if (mayServe(mode, address)) {
      next();
      return;
    }
    onRefuse(address);
    res
      .status(403)
      .type('text/plain')
      .send('The status page is served to this host only: set security.http.token to open it to the network.\n');
  };
}
