// Builds the demo editor into web/demo/dist (committed, embedded into the
// collabd binary with go:embed):
//
//	node web/demo/build.mjs                 # or: npm run build:demo
//	node web/demo/build.mjs --outdir DIR    # somewhere else (the staleness check)
//
// dist/index.html is src/index.html with the asset names filled in, and
// poll.html, vote.html and chat.html the party pages of src/parties/;
// dist/assets/ holds app-HASH.js, style-HASH.css, parties-HASH.js and
// parties-style-HASH.css (HASH from the bytes). The output depends only
// on the sources and the pinned packages (no timestamps, no absolute paths,
// no source maps), so a rebuild from the same tree is byte-for-byte equal.
// The build fails unless exactly one copy of yjs is in the bundle.
//
// It prints one JSON line: the files with their sizes and the yjs copies.
import * as esbuild from 'esbuild'
import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')

let outdir = path.join(here, 'dist')
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--outdir' && i + 1 < args.length) {
    outdir = path.resolve(args[++i])
  } else {
    console.error(`usage: node build.mjs [--outdir DIR]; unknown argument ${JSON.stringify(args[i])}`)
    process.exit(2)
  }
}

// Start from an empty output directory, so that no asset of an older build
// stays behind.
await rm(outdir, { recursive: true, force: true })
await mkdir(path.join(outdir, 'assets'), { recursive: true })

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: {
    app: 'web/demo/src/main.js',
    style: 'web/demo/src/style.css',
    parties: 'web/demo/src/parties/main.js',
    'parties-style': 'web/demo/src/parties/style.css'
  },
  entryNames: '[name]',
  outdir: path.join(outdir, 'assets'),
  write: false,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  legalComments: 'eof',
  charset: 'utf8',
  sourcemap: false,
  metafile: true,
  logLevel: 'warning'
})

// Exactly one yjs: two copies break Yjs's constructor checks (and Yjs warns
// about it on the console).
const yjsCopies = new Set()
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^(.*node_modules\/yjs)\//.exec(input)
  if (m) yjsCopies.add(m[1])
}
if (yjsCopies.size !== 1) {
  console.error(`want exactly one yjs in the bundle, found ${yjsCopies.size}: ${[...yjsCopies].join(', ')}`)
  process.exit(1)
}

// Each output is written as NAME-HASH.EXT, HASH from its bytes alone
// (esbuild's own [hash] also covers the input paths, which differ when
// node_modules is a symlink).
const files = {}
const assets = {}
for (const out of result.outputFiles) {
  const ext = path.extname(out.path)
  const hash = createHash('sha256').update(out.contents).digest('hex').slice(0, 12)
  const name = `${path.basename(out.path, ext)}-${hash}${ext}`
  await writeFile(path.join(outdir, 'assets', name), out.contents)
  files['assets/' + name] = out.contents.length
  assets[path.basename(out.path)] = 'assets/' + name
}
const want = ['app.js', 'style.css', 'parties.js', 'parties-style.css']
if (result.outputFiles.length !== want.length || !want.every((n) => assets[n])) {
  console.error('build: want', want, 'got', result.outputFiles.map((f) => f.path))
  process.exit(1)
}

// The note editor is index.html; the party pages (src/parties/*.html,
// served at /poll, /poll/vote and /chat) share one script and stylesheet.
const pages = { 'index.html': 'index.html', 'poll.html': 'parties/poll.html', 'vote.html': 'parties/vote.html', 'chat.html': 'parties/chat.html' }
for (const [out, src] of Object.entries(pages)) {
  const html = (await readFile(path.join(here, 'src', src), 'utf8'))
    .replace('{{APP_CSS}}', assets['style.css'])
    .replace('{{APP_JS}}', assets['app.js'])
    .replace('{{PARTIES_CSS}}', assets['parties-style.css'])
    .replace('{{PARTIES_JS}}', assets['parties.js'])
  if (html.includes('{{')) {
    console.error(`build: src/${src} has a placeholder this build does not fill`)
    process.exit(1)
  }
  await writeFile(path.join(outdir, out), html)
  files[out] = Buffer.byteLength(html)
}
console.log(JSON.stringify({ outdir, files, yjs: [...yjsCopies] }))
