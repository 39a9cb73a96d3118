/** English texts of labels, routes and blocks on all servers. */
export const fleetEn = {
  labelsLine: (p: { labels: string }) => `labels: ${p.labels}`,
  optedOut: "takes no part in blocks on all servers",
};
