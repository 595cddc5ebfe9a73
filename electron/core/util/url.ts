// One rule for every URL the agent will talk to or open: HTTPS, or plain HTTP on this machine only
// (the embedded demo server, a local DPI test page). Used by the settings, the DMP URL and headless mode.
export const isLoopbackHost = (hostname: string) =>
  hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';

export function isHttpsOrLoopback(u: URL): boolean {
  return u.protocol === 'https:' || (u.protocol === 'http:' && isLoopbackHost(u.hostname));
}
