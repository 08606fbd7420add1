import { ClassView } from "@/components/ClassView";

export default async function ClassPage({ params }: { params: Promise<{ code: string }> }) {
  const { code } = await params;
  return <ClassView rawCode={decodeURIComponent(code)} />;
}
