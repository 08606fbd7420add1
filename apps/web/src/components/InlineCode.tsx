"use client";
// Text with `code` spans (catalog descriptions, walkthrough steps), shown with the spans as code.
// Every piece is a React text child: the text is data, never markup.
import { Fragment } from "react";
import { splitCodeSpans } from "@/lib/format";

export function InlineCode({ text }: { text: string }) {
  return (
    <>
      {splitCodeSpans(text).map((p, i) => (p.code ? <code key={i}>{p.text}</code> : <Fragment key={i}>{p.text}</Fragment>))}
    </>
  );
}
