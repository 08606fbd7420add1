"use client";
// The guest's serial port in a terminal (xterm.js). What it shows is handed in as text (rebuilt
// from the UART's records, see console-text.ts); keys typed go to `onInput` while the run is live.
// xterm draws into its own DOM and never interprets the text as HTML: guest bytes stay bytes.
import { memo, useEffect, useRef, useState } from "react";
import type { Terminal } from "@xterm/xterm";
import type { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { defineMessages, useT } from "@/lib/i18n";
import styles from "./Console.module.css";

const messages = defineMessages({
  en: {
    title: "Console (COM1)",
    hintLive: "Click the terminal and type: the keys go to the guest's serial port.",
    hintReplay: "What the guest had printed at the cursor.",
    empty: "(nothing printed yet)",
  },
  ja: {
    title: "コンソール (COM1)",
    hintLive: "端末をクリックして入力すると、キーがゲストのシリアルポートに送られます。",
    hintReplay: "カーソル位置までにゲストが出力した内容です。",
    empty: "(まだ出力はありません)",
  },
});

export interface ConsoleProps {
  text: string;
  /** Present while the guest can take input. */
  onInput?: ((data: string) => void) | undefined;
}

export const Console = memo(function Console({ text, onInput }: ConsoleProps) {
  const t = useT(messages);
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | null>(null);
  const fit = useRef<FitAddon | null>(null);
  const written = useRef("");
  const inputRef = useRef(onInput);
  inputRef.current = onInput;
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let disposed = false;
    let observer: ResizeObserver | null = null;
    void Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit")]).then(([x, f]) => {
      if (disposed || host.current === null) return;
      const css = getComputedStyle(document.documentElement);
      const terminal = new x.Terminal({
        convertEol: true,
        cursorBlink: true,
        scrollback: 5000,
        fontFamily: css.getPropertyValue("--mono").trim() || "monospace",
        fontSize: parseInt(css.getPropertyValue("--fs"), 10) || 14,
        theme: { background: "#000000", foreground: "#d1fae5" },
      });
      const fitAddon = new f.FitAddon();
      terminal.loadAddon(fitAddon);
      terminal.open(host.current);
      fitAddon.fit();
      // Guest output is not allowed to type: xterm answers terminal queries a guest may print
      // (device status ESC[6n, device attributes ESC[c / ESC[>c / ESC[=c) through onData, which would
      // send the answer to the guest as if the reader had typed it. Swallow the queries instead.
      for (const prefix of [undefined, ">", "="] as const) {
        terminal.parser.registerCsiHandler(prefix === undefined ? { final: "c" } : { prefix, final: "c" }, () => true);
      }
      terminal.parser.registerCsiHandler({ final: "n" }, () => true);
      terminal.parser.registerCsiHandler({ prefix: "?", final: "n" }, () => true);
      terminal.onData((data) => inputRef.current?.(data));
      observer = new ResizeObserver(() => fitAddon.fit());
      observer.observe(host.current);
      term.current = terminal;
      fit.current = fitAddon;
      written.current = "";
      setReady(true);
    });
    return () => {
      disposed = true;
      observer?.disconnect();
      term.current?.dispose();
      term.current = null;
    };
  }, []);

  useEffect(() => {
    const terminal = term.current;
    if (terminal === null) return;
    const before = written.current;
    if (text.startsWith(before)) {
      if (text.length > before.length) terminal.write(text.slice(before.length));
    } else {
      // The cursor went back (replay): start over from the text at the new cursor.
      terminal.reset();
      terminal.write(text);
    }
    written.current = text;
  }, [text, ready]);

  return (
    <section className={`panel ${styles.console}`} data-testid="console" data-text={text.slice(-4096)}>
      <h2>{t("title")}</h2>
      <p className="muted small">{onInput !== undefined ? t("hintLive") : t("hintReplay")}</p>
      <div ref={host} className={styles.term} aria-label={t("title")} />
      {text === "" && <p className="muted small">{t("empty")}</p>}
    </section>
  );
});
