//! `callscreen top`: a running daemon at a glance, refreshed every second,
//! on a terminal of 80×24 or more (ratatui).
//!
//! It reads what every NOC tool reads: `/metrics` every second (rates are
//! the difference between samples, over the last ten seconds at most), and
//! the live call stream's rejected calls (`GET /v1/calls/stream?verdict=
//! reject`, operation `calls`) for the callers and prefixes rejected in the
//! last minute. It changes nothing.

use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::{DefaultTerminal, Frame};
use serde_json::Value;

use crate::cli::TopArgs;
use crate::state::VERDICTS;

/// How far back the rates look (samples are a second apart).
const SAMPLES: usize = 11;
/// How far back the rejected callers and prefixes are counted.
const REJECT_WINDOW: Duration = Duration::from_secs(60);

/// A series' labels: (name, value) pairs.
type Labels = Vec<(String, String)>;

/// One scrape of `/metrics`: (name, labels, value) per series.
struct Sample {
    at: Instant,
    series: Vec<(String, Labels, f64)>,
}

impl Sample {
    /// Parses the Prometheus text format (what callscreen writes: no
    /// timestamps, no escapes in label values).
    fn parse(text: &str, at: Instant) -> Sample {
        let mut series = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match key.split_once('{') {
                None => (key, Vec::new()),
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter_map(|kv| {
                            let (k, v) = kv.split_once("=\"")?;
                            Some((k.to_string(), v.trim_end_matches('"').to_string()))
                        })
                        .collect();
                    (name, labels)
                }
            };
            series.push((name.to_string(), labels, value));
        }
        Sample { at, series }
    }

    /// The series named `name`: (its value of label `label`, value).
    fn by<'a>(&'a self, name: &'a str, label: &'a str) -> impl Iterator<Item = (&'a str, f64)> {
        self.series
            .iter()
            .filter(move |(n, _, _)| n == name)
            .filter_map(move |(_, labels, v)| {
                labels
                    .iter()
                    .find(|(k, _)| k == label)
                    .map(|(_, l)| (l.as_str(), *v))
            })
    }

    fn one(&self, name: &str) -> f64 {
        self.series
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, v)| v)
            .sum()
    }

    fn peer_calls(&self) -> HashMap<(&str, &str), f64> {
        self.series
            .iter()
            .filter(|(n, _, _)| n == "callscreen_peer_calls_total")
            .filter_map(|(_, labels, v)| {
                let get = |k: &str| labels.iter().find(|(l, _)| l == k).map(|(_, x)| x.as_str());
                Some(((get("peer")?, get("verdict")?), *v))
            })
            .collect()
    }
}

/// Rejected calls seen on the stream: (when, caller), the last minute's.
#[derive(Default)]
struct Rejects {
    calls: VecDeque<(Instant, String)>,
    lost: u64,
    /// Why the stream is not open (no `calls` operation, the daemon gone).
    error: Option<String>,
}

/// What one screen shows, worked out from the samples and the rejects.
struct View {
    url: String,
    error: Option<String>,
    rates: Vec<(&'static str, f64)>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    dropped: (f64, f64),
    unscreened: (f64, f64),
    reasons: Vec<(String, f64)>,
    peers: Vec<(String, f64, f64)>,
    lists: Vec<[String; 4]>,
    callers: Vec<(String, usize)>,
    prefixes: Vec<(String, usize)>,
    stream: String,
    /// The stream is not open (its text is then an error, shown as one).
    stream_failed: bool,
}

/// How peers are ordered (`s` switches).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum PeerSort {
    #[default]
    Calls,
    Reject,
}

/// What the keys set: like htop's, `p` pauses, `s` sorts, `l` hides the
/// lists, `h` or `?` shows the keys, `q` quits.
#[derive(Clone, Copy, Default)]
struct Ui {
    paused: bool,
    help: bool,
    hide_lists: bool,
    peer_sort: PeerSort,
}

/// The `q`-quantile of a cumulative histogram's increase (Prometheus'
/// linear interpolation inside the bucket), in the buckets' unit.
fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lo, mut below) = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lo);
            }
            let inside = count - below;
            let frac = if inside > 0.0 {
                (rank - below) / inside
            } else {
                1.0
            };
            return Some(lo + (le - lo) * frac);
        }
        (lo, below) = (le, count);
    }
    Some(lo)
}

fn top_n<K: Clone>(mut v: Vec<(K, f64)>, n: usize) -> Vec<(K, f64)> {
    v.retain(|(_, r)| *r > 0.0);
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(n);
    v
}

fn count_top(items: impl Iterator<Item = String>, n: usize) -> Vec<(String, usize)> {
    let mut m: HashMap<String, usize> = HashMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

fn age(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn view(
    url: &str,
    samples: &VecDeque<Sample>,
    rejects: &Rejects,
    prefix_digits: usize,
    error: Option<String>,
) -> View {
    let (Some(new), Some(old)) = (samples.back(), samples.front()) else {
        return View::empty(url, error);
    };
    let dt = new.at.duration_since(old.at).as_secs_f64();
    let rate = |n: f64, o: f64| if dt > 0.0 { (n - o).max(0.0) / dt } else { 0.0 };
    let old_by = |name: &str, label: &str| -> HashMap<String, f64> {
        old.by(name, label)
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    };
    let calls_old = old_by("callscreen_calls_total", "verdict");
    let rates = VERDICTS
        .iter()
        .map(|v| {
            let n = new
                .by("callscreen_calls_total", "verdict")
                .find(|(k, _)| k == v)
                .map_or(0.0, |x| x.1);
            (*v, rate(n, calls_old.get(*v).copied().unwrap_or(n)))
        })
        .collect();
    let reasons_old = old_by("callscreen_reasons_total", "reason");
    let reasons = top_n(
        new.by("callscreen_reasons_total", "reason")
            .map(|(k, n)| {
                (
                    k.to_string(),
                    rate(n, reasons_old.get(k).copied().unwrap_or(n)),
                )
            })
            .collect(),
        6,
    );
    let (pn, po) = (new.peer_calls(), old.peer_calls());
    let mut peers: HashMap<&str, (f64, f64)> = HashMap::new();
    for (&(peer, verdict), &n) in &pn {
        let r = rate(n, po.get(&(peer, verdict)).copied().unwrap_or(n));
        let e = peers.entry(peer).or_default();
        e.0 += r;
        if verdict == "reject" {
            e.1 += r;
        }
    }
    let mut peers: Vec<(String, f64, f64)> = peers
        .into_iter()
        .filter(|(_, (all, _))| *all > 0.0)
        .map(|(p, (all, rej))| (p.to_string(), all, rej / all))
        .collect();
    peers.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    peers.truncate(32);
    // The latency histogram's increase over the window.
    let lat_old = old_by("callscreen_decision_latency_seconds_bucket", "le");
    let mut buckets: Vec<(f64, f64)> = new
        .by("callscreen_decision_latency_seconds_bucket", "le")
        .filter_map(|(le, n)| {
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>().ok()? * 1e6
            };
            Some((bound, n - lat_old.get(le).copied().unwrap_or(n)))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let dropped_now = new.one("callscreen_log_lines_dropped_total");
    let unscreened = |s: &Sample| {
        s.one("callscreen_fail_open_total")
            + s.one("callscreen_shed_queue_age_total")
            + s.one("callscreen_shed_limit_total")
    };
    let versions: HashMap<&str, f64> = new.by("callscreen_list_version", "list").collect();
    let ages: HashMap<&str, f64> = new.by("callscreen_list_age_seconds", "list").collect();
    let max_ages: HashMap<&str, f64> = new.by("callscreen_list_max_age_seconds", "list").collect();
    let lists = new
        .by("callscreen_list_entries", "list")
        .map(|(l, entries)| {
            let age_text = ages
                .get(l)
                .map_or("-".to_string(), |a| match max_ages.get(l) {
                    Some(m) if a > m => format!("{} OVERDUE", age(*a)),
                    _ => age(*a),
                });
            [
                l.to_string(),
                versions.get(l).map_or("-".into(), |v| format!("{v}")),
                format!("{entries}"),
                age_text,
            ]
        })
        .collect();
    let now = Instant::now();
    let recent = || {
        rejects
            .calls
            .iter()
            .filter(move |(t, _)| now.duration_since(*t) <= REJECT_WINDOW)
            .map(|(_, c)| c)
    };
    let callers = count_top(recent().cloned(), 5);
    let prefixes = count_top(
        recent().filter(|c| c.starts_with('+')).map(|c| {
            c.char_indices()
                .nth(prefix_digits + 1)
                .map_or(c.clone(), |(i, _)| format!("{}…", &c[..i]))
        }),
        5,
    );
    let stream = match (&rejects.error, rejects.lost) {
        (Some(e), _) => e.clone(),
        (None, 0) => String::new(),
        (None, n) => format!("{n} rejected calls missed (this terminal read too slowly)"),
    };
    View {
        url: url.to_string(),
        error,
        rates,
        p50_us: quantile(0.5, &buckets),
        p99_us: quantile(0.99, &buckets),
        dropped: (
            dropped_now,
            rate(dropped_now, old.one("callscreen_log_lines_dropped_total")),
        ),
        unscreened: (unscreened(new), rate(unscreened(new), unscreened(old))),
        reasons,
        peers,
        lists,
        callers,
        prefixes,
        stream,
        stream_failed: rejects.error.is_some(),
    }
}

impl View {
    fn empty(url: &str, error: Option<String>) -> View {
        View {
            url: url.to_string(),
            error,
            rates: VERDICTS.iter().map(|v| (*v, 0.0)).collect(),
            p50_us: None,
            p99_us: None,
            dropped: (0.0, 0.0),
            unscreened: (0.0, 0.0),
            reasons: Vec::new(),
            peers: Vec::new(),
            lists: Vec::new(),
            callers: Vec::new(),
            prefixes: Vec::new(),
            stream: String::new(),
            stream_failed: false,
        }
    }
}

fn verdict_colour(v: &str) -> Color {
    match v {
        "reject" => Color::Red,
        "tag" | "anonymise" => Color::Yellow,
        "warn" => Color::Magenta,
        _ => Color::Green,
    }
}

fn draw(f: &mut Frame, v: &View, ui: Ui) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let red = Style::default().fg(Color::Red);
    let width = f.area().width.max(20) as usize;
    // What is wrong, whole: an error is wrapped over as many lines as it
    // needs (the rest of the screen may look healthy from /metrics alone).
    let mut problems: Vec<(String, Style)> = Vec::new();
    if let Some(e) = &v.error {
        problems.push((e.clone(), red));
    }
    if !v.stream.is_empty() {
        let style = if v.stream_failed {
            red
        } else {
            Style::default().fg(Color::Yellow)
        };
        problems.push((v.stream.clone(), style));
    }
    let status_rows: u16 = if problems.is_empty() {
        1
    } else {
        problems
            .iter()
            .map(|(t, _)| t.chars().count().div_ceil(width).max(1) as u16)
            .sum()
    };
    let lists_rows = if ui.hide_lists {
        0
    } else {
        (v.lists.len() as u16 + 2).min(9)
    };
    let [head, status_area, middle, bottom, lists] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(status_rows),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(lists_rows),
    ])
    .areas(f.area());
    let total: f64 = v.rates.iter().map(|r| r.1).sum();
    let mut calls = vec![Span::styled(format!("calls/s {total:.1}"), bold)];
    for (name, r) in &v.rates {
        calls.push(Span::styled(
            format!(" {name} "),
            Style::default().fg(verdict_colour(name)),
        ));
        calls.push(Span::raw(format!("{r:.1}")));
    }
    let us = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.0}µs"));
    let keys = if ui.paused {
        Span::styled(
            "  PAUSED (p resumes)  h help",
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        Span::raw("  h help  q quits")
    };
    f.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled("callscreen top ", bold),
                Span::raw(format!(
                    "{}  p50 {} p99 {}",
                    v.url,
                    us(v.p50_us),
                    us(v.p99_us)
                )),
                keys,
            ]),
            Line::from(calls),
        ]),
        head,
    );
    let status: Vec<Line> = if problems.is_empty() {
        vec![Line::from(format!(
            "log lines dropped {} (+{:.1}/s)  unscreened calls {} (+{:.1}/s)",
            v.dropped.0, v.dropped.1, v.unscreened.0, v.unscreened.1,
        ))]
    } else {
        problems
            .iter()
            .map(|(t, style)| Line::styled(t.clone(), *style))
            .collect()
    };
    f.render_widget(
        Paragraph::new(status).wrap(Wrap { trim: false }),
        status_area,
    );
    let mut peers = v.peers.clone();
    if ui.peer_sort == PeerSort::Reject {
        peers.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| b.1.total_cmp(&a.1)));
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(middle);
    f.render_widget(
        Table::new(
            v.reasons
                .iter()
                .map(|(r, x)| Row::new([r.clone(), format!("{x:.1}")])),
            [Constraint::Min(20), Constraint::Length(8)],
        )
        .header(Row::new(["reason", "calls/s"]).style(bold))
        .block(Block::bordered().title("top reasons")),
        left,
    );
    f.render_widget(
        Table::new(
            peers.iter().map(|(p, all, share)| {
                Row::new([
                    p.clone(),
                    format!("{all:.1}"),
                    format!("{:.0}%", share * 100.0),
                ])
            }),
            [
                Constraint::Min(14),
                Constraint::Length(8),
                Constraint::Length(7),
            ],
        )
        .header(Row::new(["peer", "calls/s", "reject"]).style(bold))
        .block(Block::bordered().title(match ui.peer_sort {
            PeerSort::Calls => "top peers by calls/s (s: sort)",
            PeerSort::Reject => "top peers by reject share (s: sort)",
        })),
        right,
    );
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    let counted = |items: &[(String, usize)], title: &str, area: Rect, f: &mut Frame| {
        f.render_widget(
            Table::new(
                items
                    .iter()
                    .map(|(c, n)| Row::new([c.clone(), n.to_string()])),
                [Constraint::Min(16), Constraint::Length(7)],
            )
            .header(Row::new(["", "calls"]).style(bold))
            .block(Block::bordered().title(title.to_string())),
            area,
        );
    };
    counted(&v.callers, "rejected callers, last minute", left, f);
    counted(&v.prefixes, "rejected prefixes, last minute", right, f);
    // A top border only: at 80×24 that leaves room for seven lists.
    let block = Block::new().borders(Borders::TOP).title("lists");
    f.render_widget(
        Table::new(
            v.lists.iter().map(|l| Row::new(l.to_vec())),
            [
                Constraint::Min(22),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(14),
            ],
        )
        .header(Row::new(["list", "version", "entries", "age"]).style(bold))
        .block(block),
        lists,
    );
    if ui.help {
        help(f);
    }
}

/// The keys, over the screen (`h` or `?` again, or Esc, closes it).
fn help(f: &mut Frame) {
    let text = vec![
        Line::from("callscreen top: keys"),
        Line::from(""),
        Line::from("  p, space  pause / resume the refresh"),
        Line::from("  s         sort peers by calls/s or by reject share"),
        Line::from("  l         hide / show the lists (more rows above)"),
        Line::from("  h, ?      this help (again, or Esc, closes it)"),
        Line::from("  q, Esc    quit"),
    ];
    let area = f.area();
    let w = 58.min(area.width);
    let h = (text.len() as u16 + 2).min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(ratatui::widgets::Clear, r);
    f.render_widget(
        Paragraph::new(text).block(Block::bordered().title("help")),
        r,
    );
}

/// Follows the rejected calls on the stream, reconnecting every 5 s when
/// it fails (the daemon restarting), into `rejects`.
fn follow(
    url: String,
    token: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    rejects: Arc<Mutex<Rejects>>,
) {
    loop {
        let r = crate::api::client::stream_lines(
            &url,
            "/v1/calls/stream?verdict=reject",
            &token,
            tls.clone(),
            |line| {
                let Ok(e) = serde_json::from_str::<Value>(line) else {
                    return true;
                };
                let Ok(mut r) = rejects.lock() else {
                    return false;
                };
                r.error = None;
                if let Some(n) = e.get("lost").and_then(Value::as_u64) {
                    r.lost += n;
                } else if let Some(c) = e.get("caller").and_then(Value::as_str) {
                    let now = Instant::now();
                    r.calls.push_back((now, c.to_string()));
                    while r
                        .calls
                        .front()
                        .is_some_and(|(t, _)| now.duration_since(*t) > REJECT_WINDOW)
                    {
                        r.calls.pop_front();
                    }
                }
                true
            },
        );
        let e = match r {
            Ok(()) => "the call stream closed; reconnecting".to_string(),
            Err(e) if e.is_auth() => {
                format!("rejected callers need a token with the calls operation ({e})")
            }
            Err(e) => e.to_string(),
        };
        if let Ok(mut r) = rejects.lock() {
            r.error = Some(e);
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

fn run(
    terminal: &mut DefaultTerminal,
    a: &TopArgs,
    token: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) {
    let rejects = Arc::new(Mutex::new(Rejects::default()));
    let mut samples: VecDeque<Sample> = VecDeque::new();
    let mut next = Instant::now();
    let mut ui = Ui::default();
    let mut shown: Option<View> = None;
    loop {
        let now = Instant::now();
        if now >= next && ui.paused {
            next = now + Duration::from_secs(1);
            if let Some(v) = &shown
                && terminal.draw(|f| draw(f, v, ui)).is_err()
            {
                return;
            }
        } else if now >= next {
            next = now + Duration::from_secs(1);
            let error = match crate::api::client::request(
                &a.api.url,
                "GET",
                "/metrics",
                None,
                None,
                b"",
                None,
                tls.clone(),
            ) {
                Ok(r) if r.status == 200 => {
                    samples.push_back(Sample::parse(&r.body, now));
                    if samples.len() > SAMPLES {
                        samples.pop_front();
                    }
                    None
                }
                Ok(r) => Some(format!("GET /metrics: {} {}", r.status, r.body.trim())),
                Err(e) => Some(format!("{e} (retrying every second)")),
            };
            let v = match rejects.lock() {
                Ok(r) => view(
                    &a.api.url,
                    &samples,
                    &r,
                    usize::from(a.prefix_digits),
                    error,
                ),
                Err(_) => View::empty(&a.api.url, error),
            };
            if terminal.draw(|f| draw(f, &v, ui)).is_err() {
                return;
            }
            shown = Some(v);
        }
        // Keys until the next refresh; the stream's thread starts once
        // the first screen is up.
        if Arc::strong_count(&rejects) == 1 {
            let (url, token, r) = (a.api.url.clone(), token.to_string(), Arc::clone(&rejects));
            let tls = tls.clone();
            std::thread::spawn(move || follow(url, token, tls, r));
        }
        let wait = next.saturating_duration_since(Instant::now());
        match event::poll(wait) {
            Ok(true) => match event::read() {
                Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => {
                    let ctrl_c =
                        k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    if ctrl_c
                        || k.code == KeyCode::Char('q')
                        || (k.code == KeyCode::Esc && !ui.help)
                    {
                        return;
                    }
                    match k.code {
                        KeyCode::Char('p' | ' ') => ui.paused = !ui.paused,
                        KeyCode::Char('s') => {
                            ui.peer_sort = match ui.peer_sort {
                                PeerSort::Calls => PeerSort::Reject,
                                PeerSort::Reject => PeerSort::Calls,
                            }
                        }
                        KeyCode::Char('l') => ui.hide_lists = !ui.hide_lists,
                        KeyCode::Char('h' | '?') => ui.help = !ui.help,
                        KeyCode::Esc => ui.help = false,
                        _ => {}
                    }
                    // Shown at once, paused or not (a paused screen keeps its figures).
                    if let Some(v) = &shown
                        && terminal.draw(|f| draw(f, v, ui)).is_err()
                    {
                        return;
                    }
                }
                // A resize redraws at once.
                Ok(Event::Resize(..)) => next = Instant::now(),
                Ok(_) => {}
                Err(_) => return,
            },
            Ok(false) => {}
            Err(_) => return,
        }
    }
}

pub fn top(a: &TopArgs) -> ExitCode {
    if !std::io::stdout().is_terminal() {
        eprintln!(
            "callscreen top needs a terminal; for a pipe, `callscreen tail` follows calls and GET /metrics has the counters"
        );
        return ExitCode::from(2);
    }
    let (token, tls) = match super::lists::credentials(&a.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("callscreen top: the terminal: {e}");
            return ExitCode::from(1);
        }
    };
    run(&mut terminal, a, &token, tls);
    ratatui::restore();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        // 100 calls: 50 up to 10 µs, 40 more up to 25, 10 more up to 50.
        let b = [
            (10.0, 50.0),
            (25.0, 90.0),
            (50.0, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert_eq!(quantile(0.5, &b), Some(10.0));
        assert_eq!(quantile(0.7, &b), Some(17.5));
        assert_eq!(quantile(0.99, &b), Some(47.5));
        assert_eq!(quantile(0.5, &[(10.0, 0.0), (f64::INFINITY, 0.0)]), None);
    }

    #[test]
    fn rates_come_from_the_difference_of_two_scrapes() {
        let t0 = Instant::now();
        let text = |allow: u32, dom_reject: u32| {
            format!(
                "# TYPE callscreen_calls_total counter\n\
                 callscreen_calls_total{{verdict=\"allow\"}} {allow}\n\
                 callscreen_peer_calls_total{{peer=\"dom\",verdict=\"allow\"}} {allow}\n\
                 callscreen_peer_calls_total{{peer=\"dom\",verdict=\"reject\"}} {dom_reject}\n\
                 callscreen_reasons_total{{reason=\"blocklist:scam-origins\"}} {dom_reject}\n\
                 callscreen_list_entries{{list=\"scam-origins\",role=\"blocklist\"}} 2\n\
                 callscreen_list_version{{list=\"scam-origins\"}} 7\n\
                 callscreen_list_age_seconds{{list=\"scam-origins\"}} 90000\n\
                 callscreen_list_max_age_seconds{{list=\"scam-origins\"}} 86400\n"
            )
        };
        let samples: VecDeque<Sample> = [
            Sample::parse(&text(10, 0), t0),
            Sample::parse(&text(40, 10), t0 + Duration::from_secs(2)),
        ]
        .into();
        let mut r = Rejects::default();
        for c in ["+31201234567", "+31201234567", "+31201239999", "anonymous"] {
            r.calls.push_back((Instant::now(), c.to_string()));
        }
        let v = view("u", &samples, &r, 6, None);
        assert_eq!(v.rates[0], ("allow", 15.0));
        assert_eq!(v.reasons, vec![("blocklist:scam-origins".to_string(), 5.0)]);
        assert_eq!(v.peers, vec![("dom".to_string(), 20.0, 0.25)]);
        assert_eq!(
            v.lists,
            vec![[
                "scam-origins".to_string(),
                "7".into(),
                "2".into(),
                "25h OVERDUE".into()
            ]]
        );
        assert_eq!(v.callers[0], ("+31201234567".to_string(), 2));
        assert_eq!(v.prefixes, vec![("+312012…".to_string(), 3)]);
    }
}
