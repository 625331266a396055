/**
 * What `signvote start` says about browser tabs: where to open the session, or, without a built
 * client, what the tabs need first (the link would answer 404 until then).
 *
 * `tabs`: how many of the session's expected peers are not started here (0 or more);
 * `localLink`: the loopback join link; `shareUrl`: the link for other machines (printed when it
 * differs); `buildClient`: the command that builds the client.
 */
export function tabLines(o: { clientBuilt: boolean; tabs: number; localLink: string; shareUrl: string; buildClient: string }): string[] {
  const tabsWord = `${o.tabs} browser tab${o.tabs === 1 ? '' : 's'}`;
  if (!o.clientBuilt) {
    return [`${o.tabs > 0 ? `the session waits for ${tabsWord}, but` : 'browser tabs could join too, but'} the browser UI is not built: ${o.buildClient}, then open ${o.localLink}`];
  }
  return [
    o.tabs > 0 ? `open in ${tabsWord}: ${o.localLink}` : `more peers can join from a browser tab: ${o.localLink}`,
    ...(o.shareUrl !== o.localLink ? [`join from other computers and phones: ${o.shareUrl}`] : []),
  ];
}
