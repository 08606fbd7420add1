import { GlossaryView } from "@/components/GlossaryView";

export default function GlossaryPage() {
  return <GlossaryView />;
}
