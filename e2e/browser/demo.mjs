// The demo editor in headless Chromium, driven by playwright-core against a
// running collabd. Run by browser_test.go:
//
//	node demo.mjs '{"base":"http://127.0.0.1:PORT","room":"...","outDir":"...","chromium":"/usr/bin/chromium"}'
//
// Two people (separate browser contexts, so that nothing is shared but the
// server) edit one note: typing shows up on the other side with the
// typist's named caret, edits made offline merge, a saved version is
// previewed and restored on both pages, the downloads answer with the right
// types, and screenshots are taken at laptop and phone size. A failed wait
// throws (exit 1, message on stderr); otherwise one JSON line reports what
// was seen, including every console error and page error, for the Go test
// to assert.
import { chromium } from 'playwright-core'
import path from 'node:path'

const p = JSON.parse(process.argv[2])
const base = p.base
const room = p.room
const waitMs = p.waitMs ?? 10000

const report = {
  errors: [], // console errors, page errors, failed requests, HTTP errors
  warnings: [],
  steps: [],
  screenshots: []
}

function watch (page, who) {
  page.on('console', (m) => {
    const line = `${who}: console.${m.type()}: ${m.text()}`
    if (m.type() === 'error') report.errors.push(line)
    else if (m.type() === 'warning') report.warnings.push(line)
  })
  page.on('pageerror', (e) => report.errors.push(`${who}: page error: ${e.stack || e.message}`))
  page.on('requestfailed', (r) => {
    // A download link's navigation is cancelled by design; nothing else may
    // fail.
    if (r.failure()?.errorText !== 'net::ERR_ABORTED') report.errors.push(`${who}: request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`)
  })
  page.on('response', (r) => {
    if (r.status() >= 400) report.errors.push(`${who}: HTTP ${r.status()} for ${r.request().method()} ${r.url()}`)
  })
}

// The note's text, one line per paragraph or heading (also inside lists),
// without other people's carets.
const noteText = (page, sel = '#editor .ProseMirror') => page.$eval(sel, (el) => {
  const c = el.cloneNode(true)
  c.querySelectorAll('.remote-caret').forEach((n) => n.remove())
  return Array.from(c.querySelectorAll('p, h1, h2, h3, h4, h5, h6, pre'), (b) => b.textContent.replace(/\u2060/g, '')).join('\n')
})

async function until (what, fn) {
  const deadline = Date.now() + waitMs
  let last
  for (;;) {
    try {
      const r = await fn()
      if (r.ok) return r
      last = r.detail
    } catch (e) {
      last = e.message
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${waitMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const textIncludes = (page, who, ...parts) => until(`${who}'s note to contain ${JSON.stringify(parts)}`, async () => {
  const t = await noteText(page)
  return { ok: parts.every((x) => t.includes(x)), detail: t }
})

const textEquals = (page, who, want) => until(`${who}'s note to be ${JSON.stringify(want)}`, async () => {
  const t = await noteText(page)
  return { ok: t === want, detail: t }
})

const status = (page, want) => page.waitForSelector(`#status[data-status="${want}"]`, { timeout: waitMs })

// open opens the note in a new page of context as name, with color as the
// colour this browser remembers (chosen at random on a first visit).
async function open (context, who, name, color) {
  await context.addInitScript((c) => {
    try {
      localStorage.setItem('collabd.color', c)
    } catch {}
  }, color)
  const page = await context.newPage()
  watch(page, who)
  // With access control on, the page's ?token= is what the editor passes on
  // to collabd (WebSocket and REST).
  await page.goto(`${base}/?room=${encodeURIComponent(room)}${p.token ? `&token=${encodeURIComponent(p.token)}` : ''}`)
  await status(page, 'synced')
  await page.fill('#my-name', name)
  await page.press('#my-name', 'Enter')
  return page
}

// typeAtEnd puts the caret at the end of the note and types.
async function typeAtEnd (page, text) {
  await page.click('#editor .ProseMirror')
  await page.keyboard.press('Control+End')
  await page.keyboard.type(text)
}

async function step (name, fn) {
  const start = Date.now()
  await fn()
  report.steps.push({ name, ms: Date.now() - start })
}

const browser = await chromium.launch({
  executablePath: p.chromium,
  // playwright-core gives every launch a fresh temporary --user-data-dir
  // (under TMPDIR, which the Go test points at its own temp dir).
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  timeout: 30000
})

try {
  const laptop = { viewport: { width: 1280, height: 800 } }
  const ctxA = await browser.newContext(laptop)
  const ctxB = await browser.newContext(laptop)
  ctxA.setDefaultTimeout(waitMs)
  ctxB.setDefaultTimeout(waitMs)
  let a, b

  await step('two people open the note', async () => {
    a = await open(ctxA, 'a', 'Ada', '#1971c2')
    b = await open(ctxB, 'b', 'Grace', '#c2255c')
    await until('both people in both lists', async () => {
      const names = await Promise.all([a, b].map((pg) => pg.$$eval('#people .person-name', (els) => els.map((e) => e.textContent))))
      return { ok: names[0].includes('Ada (you)') && names[0].includes('Grace') && names[1].includes('Grace (you)') && names[1].includes('Ada'), detail: names }
    })
    report.people = await a.$$eval('#people .person-name', (els) => els.map((e) => e.textContent))
  })

  await step('the history of a new note is empty', async () => {
    // Nothing is asked of the server for a note nobody wrote (it would
    // answer 404, which the console reports as an error).
    await a.click('#history-toggle')
    await a.waitForSelector('#history:not([hidden]) #versions-empty:not([hidden])')
    await a.click('#save-version')
    await a.waitForSelector('#toast.show[data-kind="error"]')
    report.emptySaveToast = await a.textContent('#toast')
  })

  await step('typing shows up on the other page', async () => {
    // Markdown-style shortcuts make a heading and a list; Ctrl+B bold.
    await typeAtEnd(a, '# Meeting notes\n- Ada: ')
    await a.keyboard.press('Control+b')
    await a.keyboard.type('ship the demo')
    await a.keyboard.press('Control+b')
    await textIncludes(b, 'b', 'Meeting notes', 'Ada: ship the demo')
    await b.locator('#editor h1', { hasText: 'Meeting notes' }).waitFor()
    await b.locator('#editor ul > li strong', { hasText: 'ship the demo' }).waitFor()
    await typeAtEnd(b, '\nGrace: write the tests')
    await textIncludes(a, 'a', 'Grace: write the tests')
  })

  await step("the other person's named caret is visible", async () => {
    // a's caret moves to the end of the note where a types.
    await typeAtEnd(a, '!')
    const label = b.locator('#editor .remote-caret-label', { hasText: 'Ada' })
    await label.waitFor({ state: 'visible' })
    // y-prosemirror redraws carets on every change, so a label found by one
    // call may be detached by the next (its computed style is then empty).
    // Read the label and its own caret in one evaluation, on attached nodes.
    const seen = await b.waitForFunction(() => {
      for (const el of document.querySelectorAll('#editor .remote-caret-label')) {
        const caret = el.closest('.remote-caret')
        if (el.textContent !== 'Ada' || !el.isConnected || !caret) continue
        return {
          text: el.textContent,
          color: getComputedStyle(el).backgroundColor,
          caretBorder: getComputedStyle(caret).borderLeftColor
        }
      }
      return null
    })
    report.caretOfAdaOnB = await seen.jsonValue()
    const graceLabel = a.locator('#editor .remote-caret-label', { hasText: 'Grace' })
    await graceLabel.waitFor({ state: 'visible' })
  })

  await step('offline edits merge', async () => {
    await b.click('#status') // go offline
    await status(b, 'offline')
    await typeAtEnd(a, '\nA while B is away')
    await typeAtEnd(b, '\nB offline edit')
    await a.waitForTimeout(300)
    report.offlineB = await noteText(b)
    await b.click('#status') // reconnect
    await status(b, 'synced')
    await textIncludes(a, 'a', 'A while B is away', 'B offline edit')
    await textIncludes(b, 'b', 'A while B is away', 'B offline edit')
    const ta = await noteText(a)
    await textEquals(b, 'b', ta)
    report.merged = ta
  })

  let saved, versionID
  await step('save a version', async () => {
    saved = await noteText(a) // the panel is still open
    await a.click('#save-version')
    const li = a.locator('#versions li.version[data-trigger="manual"]').first()
    await li.waitFor()
    versionID = await li.getAttribute('data-version')
    report.saved = saved
    report.versionID = versionID
    report.versionRow = (await li.locator('.version-head').innerText()).replace(/\s+/g, ' ')
  })

  await step('edit more after the version', async () => {
    await typeAtEnd(a, '\nAfter the version')
    await textIncludes(b, 'b', 'After the version')
  })

  await step('preview the version read-only', async () => {
    await a.click(`#versions li[data-version="${versionID}"] button[data-act="preview"]`)
    await a.waitForSelector('#preview[open] #preview-editor .ProseMirror')
    report.preview = await noteText(a, '#preview-editor .ProseMirror')
    report.previewEditable = await a.$eval('#preview-editor .ProseMirror', (el) => el.getAttribute('contenteditable'))
    const file = path.join(p.outDir, 'laptop-preview.png')
    await a.screenshot({ path: file })
    report.screenshots.push(file)
    await a.click('#preview-close')
    await a.waitForSelector('#preview:not([open])', { state: 'attached' })
  })

  await step('restore the version on both pages', async () => {
    const restore = a.locator(`#versions li[data-version="${versionID}"] button[data-act="restore"]`)
    await restore.click()
    await a.locator(`#versions li[data-version="${versionID}"] button.armed`).click()
    await textEquals(a, 'a', saved)
    await textEquals(b, 'b', saved)
    report.restoredA = await noteText(a)
    report.restoredB = await noteText(b)
    await a.locator('#versions li.version[data-trigger="restore"]').first().waitFor()
    report.versions = await a.$$eval('#versions li.version', (els) => els.map((e) => ({ id: e.dataset.version, trigger: e.dataset.trigger })))
  })

  await step('downloads', async () => {
    const links = await a.$$eval(`#versions li[data-version="${versionID}"] a[data-format], #export-json, #export-update`,
      (els) => els.map((e) => ({ label: e.textContent, href: e.href, download: e.getAttribute('download') })))
    report.downloads = []
    for (const l of links) {
      const res = await ctxA.request.get(l.href)
      const body = await res.body()
      report.downloads.push({
        ...l,
        status: res.status(),
        contentType: res.headers()['content-type'],
        bytes: body.length,
        text: (res.headers()['content-type'] || '').startsWith('text/plain') ? body.toString('utf8') : undefined
      })
    }
  })

  await step('laptop screenshot', async () => {
    // b's caret in the middle of the text, so that a shows it.
    await b.click('#editor .ProseMirror p >> nth=1')
    await b.keyboard.press('End')
    await a.locator('#editor .remote-caret-label', { hasText: 'Grace' }).waitFor({ state: 'visible' })
    await a.click('#editor .ProseMirror h1')
    await a.mouse.move(0, 0)
    await a.waitForTimeout(300) // the toolbar's transitions
    const file = path.join(p.outDir, 'laptop.png')
    await a.screenshot({ path: file })
    report.screenshots.push(file)
  })

  await step('phone screenshots', async () => {
    const ctxC = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
    ctxC.setDefaultTimeout(waitMs)
    const c = await open(ctxC, 'phone', 'Linus', '#2b8a3e')
    await textEquals(c, 'phone', saved)
    await c.locator('#editor .remote-caret-label', { hasText: 'Grace' }).waitFor({ state: 'visible' })
    await c.waitForTimeout(300)
    let file = path.join(p.outDir, 'phone.png')
    await c.screenshot({ path: file })
    report.screenshots.push(file)
    await c.click('#history-toggle')
    await c.locator('#versions li.version').first().waitFor()
    await c.waitForTimeout(300)
    file = path.join(p.outDir, 'phone-history.png')
    await c.screenshot({ path: file })
    report.screenshots.push(file)
    report.phoneOverflow = await c.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    await ctxC.close()
  })

  await ctxA.close()
  await ctxB.close()
} finally {
  await browser.close()
}

console.log(JSON.stringify(report))
