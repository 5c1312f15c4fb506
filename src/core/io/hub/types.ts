/** One entry of a repo listing. */
export interface RepoFileEntry {
  path: string;
  size: number;
  type: 'file' | 'directory';
  /** Git blob id (files) or tree id (directories), as the Hub reports it. */
  oid?: string;
}

export interface DownloadProgress {
  loaded: number;
  total: number;
  path: string;
}
