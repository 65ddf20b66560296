// The party demo pages in headless Chromium: a presenter creates a poll on
// /poll, two voters (one phone-sized) reach /poll/vote through the
// presenter's link, vote and change a vote, the presenter's bars move, the
// poll is closed; then two people chat on /chat. Screenshots of each. Run
// by TestPartyDemoInBrowser; prints one JSON line.
import { chromium } from 'playwright-core'
import path from 'node:path'

const p = JSON.parse(process.argv[2])
const waitMs = p.waitMs ?? 10000
const report = { errors: [], screenshots: [] }

function watch (page, who) {
  page.on('console', (m) => { if (m.type() === 'error') report.errors.push(`${who}: console.error: ${m.text()}`) })
  page.on('pageerror', (e) => report.errors.push(`${who}: page error: ${e.stack || e.message}`))
  page.on('response', (r) => { if (r.status() >= 400) report.errors.push(`${who}: HTTP ${r.status()} for ${r.url()}`) })
}

async function until (what, fn) {
  const deadline = Date.now() + waitMs
  let last
  for (;;) {
    try {
      const r = await fn()
      if (r.ok) return r.value
      last = r.detail
    } catch (e) { last = e.message }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const counts = (page) => page.$$eval('#results li', (lis) => lis.map((li) => Number(li.dataset.count)))
const shot = async (page, name) => {
  const file = path.join(p.outDir, name)
  await page.screenshot({ path: file })
  report.screenshots.push(file)
}

const browser = await chromium.launch({ executablePath: p.chromium, args: ['--no-sandbox'] })
try {
  const laptop = { viewport: { width: 1280, height: 800 } }
  const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
  const presenter = await (await browser.newContext(laptop)).newPage()
  watch(presenter, 'presenter')
  await presenter.goto(`${p.base}/poll?room=${p.room}`)
  await presenter.waitForSelector('#status[data-status="connected"]', { timeout: waitMs })
  await presenter.fill('#question', 'Where do we go for lunch?')
  await presenter.fill('#options', 'Pizza\nSushi\nTacos')
  await presenter.click('#create')
  await presenter.waitForSelector('#live:not([hidden])', { timeout: waitMs })
  report.voteLink = await presenter.getAttribute('#vote-link', 'href')
  report.qr = await presenter.$eval('#qr svg', (s) => s.querySelectorAll('rect, path').length)

  const v1 = await (await browser.newContext(laptop)).newPage()
  const v2 = await (await browser.newContext(phone)).newPage()
  watch(v1, 'voter 1'); watch(v2, 'phone voter')
  for (const v of [v1, v2]) {
    await v.goto(report.voteLink)
    await v.waitForSelector('.choice', { timeout: waitMs })
  }
  report.voterQuestion = await v2.textContent('#question')
  await v1.click('.choice >> nth=0')
  await v2.tap('.choice >> nth=1')
  await v1.waitForSelector('body[data-counted="true"]', { timeout: waitMs })
  report.afterTwo = await until('the bars to show 1, 1, 0', async () => { const c = await counts(presenter); return { ok: c.join() === '1,1,0', value: c, detail: c } })
  await v2.tap('.choice >> nth=2')
  report.afterChange = await until('the bars to show 1, 0, 1', async () => { const c = await counts(presenter); return { ok: c.join() === '1,0,1', value: c, detail: c } })
  await v2.waitForSelector('body[data-counted="true"]', { timeout: waitMs })
  report.phoneNote = await v2.textContent('#note')
  report.phoneChosen = await v2.$$eval('.choice', (bs) => bs.map((b) => b.classList.contains('chosen')))
  report.phoneOverflow = await v2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  report.barWidths = await presenter.$$eval('#results .fill', (fs) => fs.map((f) => f.style.width))
  await shot(presenter, 'poll-presenter.png')
  await shot(v2, 'poll-phone.png')
  await shot(v1, 'poll-voter.png')
  // A reload keeps the phone's vote (its partysocket id is kept).
  await v2.reload()
  await v2.waitForSelector('.choice.chosen', { timeout: waitMs })
  report.phoneChosenAfterReload = await v2.$$eval('.choice', (bs) => bs.map((b) => b.classList.contains('chosen')))
  await presenter.click('#close')
  await presenter.waitForSelector('#closed-badge:not([hidden])', { timeout: waitMs })
  report.closedNote = await until('the phone to see the close', async () => { const t = await v2.textContent('#note'); return { ok: t.includes('closed'), value: t, detail: t } })
  report.closedDisabled = await v2.$$eval('.choice', (bs) => bs.every((b) => b.disabled))
  report.results = await (await fetch(`${p.base}/parties/poll/${p.room}`)).json()

  // Chat.
  const ada = await (await browser.newContext(laptop)).newPage()
  const bob = await (await browser.newContext(phone)).newPage()
  watch(ada, 'ada'); watch(bob, 'bob')
  await ada.goto(`${p.base}/chat?room=${p.room}`)
  await ada.fill('#name', 'Ada')
  await ada.dispatchEvent('#name', 'change')
  await ada.waitForSelector('#status[data-status="connected"]', { timeout: waitMs })
  await bob.goto(`${p.base}/chat?room=${p.room}`)
  await bob.waitForSelector('#status[data-status="connected"]', { timeout: waitMs })
  await ada.fill('#text', 'Hello from Ada')
  await ada.press('#text', 'Enter')
  report.bobSees = await until('Bob to see Ada\'s message', async () => {
    const t = await bob.$$eval('.msg', (ms) => ms.map((m) => m.textContent))
    return { ok: t.some((x) => x.includes('Hello from Ada')), value: t, detail: t }
  })
  await bob.fill('#text', 'Hi Ada!')
  await bob.press('#text', 'Enter')
  await until('Ada to see Bob\'s answer', async () => {
    const t = await ada.$$eval('.msg', (ms) => ms.map((m) => m.textContent))
    return { ok: t.some((x) => x.includes('Hi Ada!')), detail: t }
  })
  report.adaNotices = await ada.$$eval('.notice', (ns) => ns.map((n) => n.textContent))
  await shot(ada, 'chat.png')
  await shot(bob, 'chat-phone.png')
} finally {
  await browser.close()
}
console.log(JSON.stringify(report))
