"use client";
// Projector mode: large type and high contrast for a classroom wall. One attribute on <html>
// switches the theme's custom properties (app/globals.css). `?projector=1` in a shared link turns
// it on; the choice is remembered in this browser.
import { useCallback, useEffect, useState } from "react";
import { readStoredChoice, storeChoice, urlParam } from "./stored-choice";

const KEY = "kvmscope.projector";

function apply(on: boolean): void {
  document.documentElement.dataset.projector = on ? "on" : "off";
}

export function useProjector(): [boolean, (on: boolean) => void] {
  const [on, setOn] = useState(false);
  useEffect(() => {
    const q = urlParam("projector");
    const initial = q !== null ? q === "1" || q === "on" : readStoredChoice(KEY) === "on";
    setOn(initial);
    apply(initial);
  }, []);
  const set = useCallback((v: boolean) => {
    setOn(v);
    apply(v);
    storeChoice(KEY, v ? "on" : "off");
  }, []);
  return [on, set];
}
